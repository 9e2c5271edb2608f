"""Momentum methods: heavy ball and Nesterov, as ``torch.optim.SGD`` computes them.

``b_1 = g_1``, ``b_t = μ·b_{t−1} + (1 − τ)·g_t``; heavy ball steps ``x ← x − η_t·b_t``,
Nesterov ``x ← x − η_t·(g_t + μ·b_t)`` (``torch.optim.SGD``). ``weight_decay``
(added to g first) and ``clip_norm`` are torch's (see ``gradient_options``). A schedule
with ``cycle_momentum=true`` sets μ at every update, as torch's schedulers do.
"""

from __future__ import annotations

from optbench import Optimizer, check, cycled_momentum, make_schedule, register_optimizer

from .gradient_options import check_options, gradient
from .spaces import BETA, LR_PER_L, MOMENTUM_NOTE


def sgd_momentum(lr, momentum, dampening, nesterov: bool, schedule, weight_decay=0.0,
                 clip_norm=None) -> Optimizer:
    """The shared update of ``momentum`` and ``nesterov``."""
    check_options(clip_norm, weight_decay)
    rate = make_schedule(schedule, lr, momentum=True)
    mu = cycled_momentum(rate, momentum)

    def step(x, state, oracle, t):
        eta, m = rate(t, oracle.gap), mu(t)
        g = gradient(oracle, x, clip_norm, weight_decay)
        b = g if state is None else m * state["b"] + (1 - dampening) * g
        d = g + m * b if nesterov else b
        return x - eta * d, {"b": b, "lr": eta}

    return Optimizer(step=step)


@register_optimizer("momentum", needs=("gradient",), batchable=True,
                    theory=dict(model="heavy-ball", lr="lr", beta="momentum", schedule="schedule",
                                off=("dampening", "weight_decay", "clip_norm")),
                    space={"lr": LR_PER_L, "momentum": BETA},
                    defaults_note=MOMENTUM_NOTE)
def heavy_ball(lr: float = 1e-3, momentum: float = 0.9, dampening: float = 0.0,
               schedule: str = "constant", weight_decay: float = 0.0,
               clip_norm: float | None = None) -> Optimizer:
    """Heavy-ball momentum (Polyak 1964) as torch.optim.SGD(momentum=μ, dampening=τ).

    Defaults are PyTorch's, except momentum: PyTorch's 0 would be plain gradient descent.
    """
    check("lr", lr, lr > 0, "> 0")
    check("momentum", momentum, (momentum >= 0) & (momentum < 1), "in [0, 1)")
    check("dampening", dampening, (dampening >= 0) & (dampening <= 1), "in [0, 1]")
    return sgd_momentum(lr, momentum, dampening, False, schedule, weight_decay, clip_norm)


@register_optimizer("nesterov", needs=("gradient",), batchable=True,
                    theory=dict(model="nesterov", lr="lr", beta="momentum", schedule="schedule",
                                off=("weight_decay", "clip_norm")),
                    space={"lr": LR_PER_L, "momentum": BETA},
                    defaults_note=MOMENTUM_NOTE)
def nesterov(lr: float = 1e-3, momentum: float = 0.9, schedule: str = "constant",
             weight_decay: float = 0.0, clip_norm: float | None = None) -> Optimizer:
    """Nesterov momentum (Sutskever et al. 2013 form) as torch.optim.SGD(momentum=μ, nesterov=True).

    PyTorch requires μ > 0 and zero dampening for Nesterov, so dampening is not offered.
    """
    check("lr", lr, lr > 0, "> 0")
    check("momentum", momentum, (momentum > 0) & (momentum < 1), "in (0, 1)")
    return sgd_momentum(lr, momentum, 0.0, True, schedule, weight_decay, clip_norm)
