"""Learning-rate schedules: ``(t, gap) -> η_t`` for update t (t = 0 is the first update).

Each factory takes the base rate ``lr`` (a number or a per-run column) and its own
parameters, and follows the closed form ``torch.optim.lr_scheduler`` uses at
``last_epoch = t`` (``reference/dynamics.md`` section 3).
"""

from __future__ import annotations

# numpy is imported inside the factories: `optbench list` imports this module.
from optbench import check, register_schedule


@register_schedule("constant")
def constant(lr):
    """η_t = η_0."""
    return lambda t, gap=None: lr


@register_schedule("exponential")
def exponential(lr, gamma: float = 0.99):
    """η_t = η_0·γ^t (PyTorch ExponentialLR)."""
    check("gamma", gamma, (gamma > 0) & (gamma <= 1), "in (0, 1]")
    return lambda t, gap=None: lr * gamma**t


@register_schedule("cosine")
def cosine(lr, T: int = 100, eta_min: float = 0.0):
    """η_min + (η_0 − η_min)(1 + cos(πt/T))/2, not clamped after T (PyTorch CosineAnnealingLR)."""
    import numpy as np

    check("T", T, T >= 1, ">= 1")
    check("eta_min", eta_min, eta_min >= 0, ">= 0")
    return lambda t, gap=None: eta_min + (lr - eta_min) * (1 + np.cos(np.pi * t / T)) / 2
