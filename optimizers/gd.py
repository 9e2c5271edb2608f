"""Gradient descent: x ← x − η_t·∇f(x), with a constant rate or any registered schedule.

``weight_decay`` and ``clip_norm`` are torch's (see ``gradient_options``).
"""

from __future__ import annotations

from optbench import Optimizer, check, make_schedule, register_optimizer

from .gradient_options import check_options, gradient
from .spaces import LR_PER_L


@register_optimizer("gd", needs=("gradient",), batchable=True,
                    theory=dict(model="gd", lr="lr", schedule="schedule",
                                off=("weight_decay", "clip_norm")),
                    space={"lr": LR_PER_L,
                           "schedule": "choice(constant, inverse-time(decay_steps=100), "
                                       "exponential(gamma=0.995))"},
                    defaults={"lr": 1e-3},
                    defaults_note="torch.optim.SGD's defaults: lr 1e-3, no momentum")
def gd(lr: float = 0.1, schedule: str = "constant", weight_decay: float = 0.0,
       clip_norm: float | None = None) -> Optimizer:
    """Vanilla gradient descent; ``schedule`` decays the learning rate (e.g. cosine(T=100))."""
    check("lr", lr, lr > 0, "> 0")
    check_options(clip_norm, weight_decay)
    rate = make_schedule(schedule, lr)

    def step(x, state, oracle, t):
        eta = rate(t, oracle.gap)
        return x - eta * gradient(oracle, x, clip_norm, weight_decay), {"lr": eta}

    return Optimizer(step=step)
