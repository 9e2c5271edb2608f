"""Adaptive per-coordinate methods: AdaGrad, RMSProp and Adam, as ``torch.optim`` computes them.

Update rules and defaults are PyTorch's (``torch.optim``; optax differs in
AdaGrad's and RMSProp's defaults and puts ε inside the square root). Each takes its rate
as a number and a ``schedule``; the recorded learning rate is η_t before the per-coordinate
scaling (for AdaGrad after its ``lr_decay``). ``weight_decay`` (added to g) and
``clip_norm`` are torch's (see ``gradient_options``); a schedule with ``cycle_momentum=true``
sets RMSProp's momentum and Adam's β1 at every update, as torch's schedulers do.
"""

from __future__ import annotations

from optbench import Optimizer, check, cycled_momentum, make_schedule, register_optimizer

from .gradient_options import check_options, gradient
from .spaces import ADAM_SPACE


def _check_unit(name: str, value) -> None:
    check(name, value, (value >= 0) & (value < 1), "in [0, 1)")


@register_optimizer("adagrad", needs=("gradient",), batchable=True,
                    space={"lr": "log(1e-4, 10)"},
                    defaults_note="torch.optim.Adagrad's defaults: lr 1e-2")
def adagrad(lr: float = 1e-2, lr_decay: float = 0.0, initial_accumulator_value: float = 0.0,
            eps: float = 1e-10, schedule: str = "constant", weight_decay: float = 0.0,
            clip_norm: float | None = None) -> Optimizer:
    """AdaGrad (Duchi et al. 2011) as torch.optim.Adagrad: G ← G + g², x ← x − η̃·g/(√G + ε),
    η̃ = η_t/(1 + t·lr_decay)."""
    import numpy as np

    check("lr", lr, lr > 0, "> 0")
    check("lr_decay", lr_decay, lr_decay >= 0, ">= 0")
    check("initial_accumulator_value", initial_accumulator_value,
          initial_accumulator_value >= 0, ">= 0")
    check("eps", eps, eps >= 0, ">= 0")
    check_options(clip_norm, weight_decay)
    rate = make_schedule(schedule, lr)

    def step(x, state, oracle, t):
        eta = rate(t, oracle.gap) / (1 + t * lr_decay)  # PyTorch: (step − 1)·lr_decay, step = t + 1
        g = gradient(oracle, x, clip_norm, weight_decay)
        G = (initial_accumulator_value if state is None else state["G"]) + g * g
        return x - eta * (g / (np.sqrt(G) + eps)), {"G": G, "lr": eta}

    return Optimizer(step=step)


@register_optimizer("rmsprop", needs=("gradient",), batchable=True,
                    space={"lr": "log(1e-5, 1)", "alpha": "1-log(1e-4, 0.1)"},
                    defaults_note="torch.optim.RMSprop's defaults: lr 1e-2, alpha 0.99")
def rmsprop(lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, momentum: float = 0.0,
            centered: bool = False, schedule: str = "constant", weight_decay: float = 0.0,
            clip_norm: float | None = None) -> Optimizer:
    """RMSProp (Hinton 2012) as torch.optim.RMSprop: v ← αv + (1 − α)g², x ← x − η_t·g/(√v + ε).

    With ``momentum`` μ > 0: b ← μb + g/(√v + ε), x ← x − η_t·b; ``centered`` subtracts the
    squared running mean of g inside the root. optax's default decay is 0.9, not 0.99.
    """
    import numpy as np

    check("lr", lr, lr > 0, "> 0")
    _check_unit("alpha", alpha)
    check("eps", eps, eps >= 0, ">= 0")
    _check_unit("momentum", momentum)

    check_options(clip_norm, weight_decay)
    rate = make_schedule(schedule, lr, momentum=True)
    mu = cycled_momentum(rate, momentum)

    def step(x, state, oracle, t):
        eta = rate(t, oracle.gap)
        g = gradient(oracle, x, clip_norm, weight_decay)
        zero = np.zeros_like(x)
        s = state or {"v": zero, "m": zero, "b": zero}
        v = alpha * s["v"] + (1 - alpha) * g * g
        new = {"v": v, "lr": eta}
        if centered:
            m = alpha * s["m"] + (1 - alpha) * g
            new["m"] = m
            avg = np.sqrt(v - m * m) + eps
        else:
            avg = np.sqrt(v) + eps
        m_t = mu(t)
        if np.any(m_t > 0):
            b = new["b"] = m_t * s["b"] + g / avg
            return x - eta * b, new
        return x - eta * (g / avg), new

    return Optimizer(step=step)


@register_optimizer("adam", needs=("gradient",), batchable=True, space=ADAM_SPACE,
                    defaults_note="torch.optim.Adam's defaults: lr 1e-3, betas (0.9, 0.999)")
def adam(lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
         amsgrad: bool = False, schedule: str = "constant", weight_decay: float = 0.0,
         clip_norm: float | None = None) -> Optimizer:
    """Adam (Kingma & Ba 2015) as torch.optim.Adam, betas = (beta1, beta2); ``amsgrad`` keeps
    the running max of v.

    x ← x − η_t·m̂/(√v̂ + ε) with bias-corrected moments; its first step is ≈ η·sign(g)
    whatever the curvature. optax's adam is identical.
    """
    import numpy as np

    check("lr", lr, lr > 0, "> 0")
    _check_unit("beta1", beta1)
    _check_unit("beta2", beta2)
    check("eps", eps, eps >= 0, ">= 0")
    check_options(clip_norm, weight_decay)
    rate = make_schedule(schedule, lr, momentum=True)
    beta1_of = cycled_momentum(rate, beta1)

    def step(x, state, oracle, t):
        eta = rate(t, oracle.gap)
        g = gradient(oracle, x, clip_norm, weight_decay)
        k = t + 1  # PyTorch's step count: 1 at the first update
        zero = np.zeros_like(x)
        s = state or {"m": zero, "v": zero, "vmax": zero}
        b1 = beta1_of(t)
        m = b1 * s["m"] + (1 - b1) * g
        v = beta2 * s["v"] + (1 - beta2) * g * g
        vmax = np.maximum(s["vmax"], v) if amsgrad else v
        denom = np.sqrt(vmax) / np.sqrt(1 - beta2**k) + eps
        return x - (eta / (1 - b1**k)) * (m / denom), {"m": m, "v": v, "vmax": vmax, "lr": eta}

    return Optimizer(step=step)
