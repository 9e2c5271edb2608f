"""Gradient descent: x ← x − η_t·∇f(x), with a constant rate or any registered schedule."""

from __future__ import annotations

from optbench import Optimizer, check, make_schedule, register_optimizer


@register_optimizer("gd", needs=("gradient",), batchable=True, theory="gd")
def gd(lr: float = 0.1, schedule: str = "constant") -> Optimizer:
    """Vanilla gradient descent; ``schedule`` decays the learning rate (e.g. cosine(T=100))."""
    check("lr", lr, lr > 0, "> 0")
    rate = make_schedule(schedule, lr)

    def step(x, state, oracle, t):
        eta = rate(t, oracle.gap)
        return x - eta * oracle.grad(x), {"lr": eta}

    return Optimizer(step=step)
