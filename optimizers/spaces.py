"""The search spaces the built-in optimizers declare for ``optbench tune --trials``
(:mod:`optbench.search_space` describes the forms; ``docs/methodology.md#search-spaces``
lists them).

The learning rate of the gradient methods is tuned in units of 1/L where the problem knows
its curvature L (from 1/1000 of 1/L, very slow, to twice the divergence threshold 2/L), else
absolutely; momentum and β₁ as 1 − β, log-uniform in [1e-3, 0.5] (β from 0.5 to 0.999); β₂
as 1 − β₂ in [1e-4, 0.1]. The adaptive methods' rate is absolute: their step does not scale
with the curvature.
"""

LR_PER_L = "log(0.001, 4)/L else log(1e-5, 1)"
BETA = "1-log(0.001, 0.5)"
ADAM_SPACE = {"lr": "log(1e-5, 1)", "beta1": BETA, "beta2": "1-log(1e-4, 0.1)"}
MOMENTUM_NOTE = ("torch.optim.SGD's lr 1e-3; its momentum is 0 by default, which is plain "
                 "gradient descent, so momentum 0.9, the common choice")
