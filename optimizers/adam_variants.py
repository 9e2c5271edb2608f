"""Adam's relatives as ``torch.optim`` computes them: AdamW, NAdam, RAdam and Adamax.

Defaults are PyTorch's. Each takes ``schedule`` (the recorded rate is η_t), ``clip_norm``
and ``weight_decay`` (see ``gradient_options``). AdamW's decay is decoupled, x ← x·(1 − η_t·λ)
before the Adam step (Loshchilov & Hutter 2019); NAdam's and RAdam's is coupled (added to
g) unless ``decoupled_weight_decay`` is true, Adamax's always coupled. k = t + 1 is
PyTorch's step count. A schedule with ``cycle_momentum=true`` sets β1 at every update.
"""

from __future__ import annotations

from optbench import Optimizer, check, cycled_momentum, make_schedule, register_optimizer

from .gradient_options import check_options, clip, gradient
from .spaces import ADAM_SPACE


def _check_adam(lr, beta1, beta2, eps) -> None:
    check("lr", lr, lr > 0, "> 0")
    check("beta1", beta1, (beta1 >= 0) & (beta1 < 1), "in [0, 1)")
    check("beta2", beta2, (beta2 >= 0) & (beta2 < 1), "in [0, 1)")
    check("eps", eps, eps >= 0, ">= 0")


def _rates(schedule, lr, beta1, clip_norm, weight_decay):
    """``(η_t, β1_t)`` of a schedule, once ``clip_norm`` and ``weight_decay`` are checked."""
    check_options(clip_norm, weight_decay)
    rate = make_schedule(schedule, lr, momentum=True)
    return rate, cycled_momentum(rate, beta1)


def _moments(s, g, beta1, beta2):
    import numpy as np

    zero = np.zeros_like(g)
    s = s or {"m": zero, "v": zero}
    return beta1 * s["m"] + (1 - beta1) * g, beta2 * s["v"] + (1 - beta2) * g * g


def _decayed_grad(oracle, x, eta, clip_norm, weight_decay, decoupled):
    """(x after any decoupled decay, the gradient the rule sees)."""
    import numpy as np

    if decoupled:
        g = clip(oracle.grad(x), clip_norm)
        return (x * (1 - eta * weight_decay) if np.any(weight_decay != 0) else x), g
    return x, gradient(oracle, x, clip_norm, weight_decay)


@register_optimizer("adamw", needs=("gradient",), batchable=True,
                    space={**ADAM_SPACE, "weight_decay": "log(1e-4, 0.1)"},
                    defaults_note="torch.optim.AdamW's defaults: lr 1e-3, betas (0.9, 0.999), "
                                  "weight decay 1e-2")
def adamw(lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 1e-2, amsgrad: bool = False, schedule: str = "constant",
          clip_norm: float | None = None) -> Optimizer:
    """AdamW as torch.optim.AdamW: x ← x·(1 − η_t·λ), then the Adam step with x's gradient
    taken before the decay."""
    import numpy as np

    _check_adam(lr, beta1, beta2, eps)
    rate, beta1_of = _rates(schedule, lr, beta1, clip_norm, weight_decay)

    def step(x, state, oracle, t):
        eta = rate(t, oracle.gap)
        k, b1 = t + 1, beta1_of(t)
        x, g = _decayed_grad(oracle, x, eta, clip_norm, weight_decay, True)
        m, v = _moments(state, g, b1, beta2)
        vmax = np.maximum(state["vmax"], v) if amsgrad and state else v
        denom = np.sqrt(vmax) / np.sqrt(1 - beta2**k) + eps
        return x - (eta / (1 - b1**k)) * (m / denom), {"m": m, "v": v, "vmax": vmax, "lr": eta}

    return Optimizer(step=step)


@register_optimizer("nadam", needs=("gradient",), batchable=True, space=ADAM_SPACE,
                    defaults_note="torch.optim.NAdam's defaults: lr 2e-3, betas (0.9, 0.999)")
def nadam(lr: float = 2e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
          momentum_decay: float = 4e-3, weight_decay: float = 0.0,
          decoupled_weight_decay: bool = False, schedule: str = "constant",
          clip_norm: float | None = None) -> Optimizer:
    """NAdam (Dozat 2016) as torch.optim.NAdam: Nesterov momentum in Adam with the momentum
    schedule μ_k = β1·(1 − ½·0.96^(k·ψ)), ψ = momentum_decay."""
    import numpy as np

    _check_adam(lr, beta1, beta2, eps)
    check("momentum_decay", momentum_decay, momentum_decay >= 0, ">= 0")
    rate, beta1_of = _rates(schedule, lr, beta1, clip_norm, weight_decay)

    def step(x, state, oracle, t):
        eta = rate(t, oracle.gap)
        k, b1 = t + 1, beta1_of(t)
        x, g = _decayed_grad(oracle, x, eta, clip_norm, weight_decay, decoupled_weight_decay)
        mu = b1 * (1.0 - 0.5 * 0.96 ** (k * momentum_decay))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((k + 1) * momentum_decay))
        prod = (1.0 if state is None else state["prod"]) * mu
        m, v = _moments(state, g, b1, beta2)
        denom = np.sqrt(v / (1 - beta2**k)) + eps
        x = x - eta * (1 - mu) / (1 - prod) * g / denom
        x = x - eta * mu_next / (1 - prod * mu_next) * m / denom
        return x, {"m": m, "v": v, "prod": prod, "lr": eta}

    return Optimizer(step=step)


@register_optimizer("radam", needs=("gradient",), batchable=True, space=ADAM_SPACE,
                    defaults_note="torch.optim.RAdam's defaults: lr 1e-3, betas (0.9, 0.999)")
def radam(lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.0, decoupled_weight_decay: bool = False,
          schedule: str = "constant", clip_norm: float | None = None) -> Optimizer:
    """RAdam (Liu et al. 2020) as torch.optim.RAdam: Adam with its variance rectified, plain
    bias-corrected momentum while the SMA length ρ_k ≤ 5 (the first updates)."""
    import numpy as np

    _check_adam(lr, beta1, beta2, eps)
    rate, beta1_of = _rates(schedule, lr, beta1, clip_norm, weight_decay)

    def step(x, state, oracle, t):
        eta = rate(t, oracle.gap)
        k, b1 = t + 1, beta1_of(t)
        x, g = _decayed_grad(oracle, x, eta, clip_norm, weight_decay, decoupled_weight_decay)
        m, v = _moments(state, g, b1, beta2)
        bc2 = 1 - beta2**k
        m_hat = m / (1 - b1**k)
        rho_inf = 2 / (1 - beta2) - 1
        rho = rho_inf - 2 * k * beta2**k / bc2
        with np.errstate(all="ignore"):  # the rectified branch only where ρ_k > 5
            rect = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            adaptive = np.sqrt(bc2) / (np.sqrt(v) + eps)
        x = np.where(rho > 5.0, x - m_hat * eta * adaptive * rect, x - m_hat * eta)
        return x, {"m": m, "v": v, "lr": eta}

    return Optimizer(step=step)


@register_optimizer("adamax", needs=("gradient",), batchable=True, space=ADAM_SPACE,
                    defaults_note="torch.optim.Adamax's defaults: lr 2e-3, betas (0.9, 0.999)")
def adamax(lr: float = 2e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
           weight_decay: float = 0.0, schedule: str = "constant",
           clip_norm: float | None = None) -> Optimizer:
    """Adamax (Kingma & Ba 2015, section 7) as torch.optim.Adamax: u ← max(β2·u, |g| + ε),
    x ← x − η_t/(1 − β1^k)·m/u."""
    import numpy as np

    _check_adam(lr, beta1, beta2, eps)
    rate, beta1_of = _rates(schedule, lr, beta1, clip_norm, weight_decay)

    def step(x, state, oracle, t):
        eta, b1 = rate(t, oracle.gap), beta1_of(t)
        g = gradient(oracle, x, clip_norm, weight_decay)
        zero = np.zeros_like(x)
        s = state or {"m": zero, "u": zero}
        m = b1 * s["m"] + (1 - b1) * g
        u = np.maximum(beta2 * s["u"], np.abs(g) + eps)
        return x - eta / (1 - b1 ** (t + 1)) * m / u, {"m": m, "u": u, "lr": eta}

    return Optimizer(step=step)
