"""A custom optimizer plug-in: gradient descent with a clipped step, in a dozen lines.

Run it:

    optbench run --plugin examples/my_optimizer.py -p quadratic-1d \
        -o "clipped-gd[lr=0.9/L,max_step=0.5]"
"""

from __future__ import annotations

from optbench import Optimizer, check, make_schedule, register_optimizer


@register_optimizer("clipped-gd", needs=("gradient",), batchable=True)
def clipped_gd(lr: float = 0.1, max_step: float = 1.0, schedule: str = "constant") -> Optimizer:
    """Gradient descent whose step length never exceeds max_step."""
    check("lr", lr, lr > 0, "> 0")
    check("max_step", max_step, max_step > 0, "> 0")
    rate = make_schedule(schedule, lr)

    def step(x, state, oracle, t):
        import numpy as np

        eta = rate(t, oracle.gap)
        s = -eta * oracle.grad(x)
        norm = np.linalg.norm(s, axis=1, keepdims=True)
        s = s * np.minimum(1.0, max_step / np.maximum(norm, 1e-300))
        return x + s, {"lr": eta}

    return Optimizer(step=step)
