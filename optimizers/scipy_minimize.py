"""``scipy.optimize.minimize`` as the baseline: it owns its loop, the oracle counts for it.

f and the gradient reach scipy as separate callables, each charged by the oracle, so the
counters equal scipy's own ``nfev`` and ``njev``. The budget is enforced by the oracle
raising inside scipy; iterates come back through scipy's callback.
"""

from __future__ import annotations

from optbench import Optimizer, register_optimizer


@register_optimizer("scipy-bfgs", needs=("gradient",), batchable=False)
def scipy_bfgs(gtol: float = 1e-5) -> Optimizer:
    """scipy.optimize.minimize(method='BFGS') with the analytic gradient."""
    if not gtol > 0:
        raise ValueError(f"gtol must be > 0, got {gtol}")

    def run(x0, oracle, callback):
        from scipy.optimize import minimize

        res = minimize(oracle.scalar_f, x0, jac=oracle.scalar_grad, method="BFGS",
                       callback=callback, options={"gtol": gtol, "maxiter": 10**9})
        return res.message

    return Optimizer(run=run)
