"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2).

c ← β1·m + (1 − β1)·g, x ← x − η_t·(sign(c) + λ·x), m ← β2·m + (1 − β2)·g: every
coordinate moves by exactly η_t (plus the decay), so its rate is typically 3–10× smaller
than AdamW's. Not in torch.optim; optax.lion computes the same rule (defaults b1 = 0.9,
b2 = 0.99; optax's weight_decay default is 1e-3, the paper's and this one's 0).
"""

from __future__ import annotations

from optbench import Optimizer, check, cycled_momentum, make_schedule, register_optimizer

from .gradient_options import check_options, clip


@register_optimizer("lion", needs=("gradient",), batchable=True)
def lion(lr: float = 1e-4, beta1: float = 0.9, beta2: float = 0.99, weight_decay: float = 0.0,
         schedule: str = "constant", clip_norm: float | None = None) -> Optimizer:
    """Lion: the sign of an interpolated momentum, with decoupled weight decay."""
    import numpy as np

    check("lr", lr, lr > 0, "> 0")
    check("beta1", beta1, (beta1 >= 0) & (beta1 <= 1), "in [0, 1]")
    check("beta2", beta2, (beta2 >= 0) & (beta2 <= 1), "in [0, 1]")
    check_options(clip_norm, weight_decay)
    rate = make_schedule(schedule, lr, momentum=True)
    beta1_of = cycled_momentum(rate, beta1)  # a cycled momentum sets β1, as for Adam

    def step(x, state, oracle, t):
        eta = rate(t, oracle.gap)
        g = clip(oracle.grad(x), clip_norm)
        m = np.zeros_like(x) if state is None else state["m"]
        b1 = beta1_of(t)
        update = np.sign(b1 * m + (1 - b1) * g) + weight_decay * x
        return x - eta * update, {"m": beta2 * m + (1 - beta2) * g, "lr": eta}

    return Optimizer(step=step)
