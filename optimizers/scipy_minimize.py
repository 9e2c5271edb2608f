"""``scipy.optimize.minimize`` as the baseline: it owns its loop, the oracle counts for it.

One adapter, :func:`solve`, serves every method and absorbs their differences:

* f and the gradient reach scipy as separate callables (``oracle.scalar_f`` and
  ``oracle.scalar_grad``), each charged once per call, so the counters equal scipy's own
  ``nfev`` and ``njev`` whether scipy asks for both at a point or for one.
* The budget is the oracle's: it raises inside scipy, which stops the run. scipy's own
  iteration and evaluation caps are lifted (``_LIFTED``) so they never end a run first.
* Iterates come back through scipy's callback as an ``intermediate_result`` (TNC passes
  the array x; the runner's callback takes either). Every recorded update costs at least
  one evaluation: a report with no evaluation since the previous one is dropped (trust-constr
  reports x_0 as iteration 0 and repeats x while it updates its barrier parameter), and
  evaluations made after scipy's last report are charged to its result ``res.x``, so the
  trace's final counters are scipy's ``nfev``/``njev``.
* The domain is passed as bounds only to the methods that accept bounds (L-BFGS-B,
  Nelder-Mead, Powell, TNC, trust-constr); ``bounded=false`` runs them unconstrained.
* Newton-CG gets the Hessian-vector product ``H @ p`` where the problem has a constant
  Hessian (data, not an evaluation: it is not charged); elsewhere scipy approximates it by
  finite differences of the gradient, which the oracle charges as gradients.

A run that scipy ends by its own criterion returns ``res.message`` (and any warning scipy
raised on the way); the runner stores it with the status ``stalled``.
"""

from __future__ import annotations

from optbench import Optimizer, check, register_optimizer

BIG = 10**9  # "no limit" for scipy's caps; it fits the C int that TNC's maxfun is
_LIFTED = {
    "BFGS": {"maxiter": BIG},
    "L-BFGS-B": {"maxiter": BIG, "maxfun": BIG},
    "CG": {"maxiter": BIG},
    "Newton-CG": {"maxiter": BIG},
    "Nelder-Mead": {"maxiter": BIG, "maxfev": BIG},
    "Powell": {"maxiter": BIG, "maxfev": BIG},
    "TNC": {"maxfun": BIG},
    "trust-constr": {"maxiter": BIG},
}
GRADIENT_FREE = frozenset({"Nelder-Mead", "Powell"})
ACCEPTS_BOUNDS = frozenset({"L-BFGS-B", "Nelder-Mead", "Powell", "TNC", "trust-constr"})


def solve(method: str, oracle, x0, callback, options: dict | None = None, bounded: bool = True):
    """One ``scipy.optimize.minimize`` call through the oracle.

    Returns:
        ``(res, warnings)``: scipy's OptimizeResult and the texts of the warnings it raised.
    """
    import warnings

    import numpy as np
    from scipy.optimize import Bounds, minimize

    problem = oracle.problem
    kwargs: dict = {"method": method, "options": {**_LIFTED[method], **(options or {})}}
    if method not in GRADIENT_FREE and problem.has_gradient:
        kwargs["jac"] = oracle.scalar_grad
    if bounded and method in ACCEPTS_BOUNDS:
        kwargs["bounds"] = Bounds(problem.lower, problem.upper)
    if method == "Newton-CG" and problem.hessian is not None:
        H = problem.hessian
        kwargs["hessp"] = lambda x, p: H @ p

    x0 = np.asarray(x0, dtype=float)
    last = {"cost": int(oracle.cost[0]), "skip_x0": method == "trust-constr"}

    def report(intermediate_result):
        # This parameter name makes scipy pass an OptimizeResult (TNC passes the array x).
        x = np.asarray(getattr(intermediate_result, "x", intermediate_result))
        cost = int(oracle.cost[0])
        if last["skip_x0"]:
            last["skip_x0"] = False
            if np.array_equal(x, x0):
                return  # trust-constr's iteration 0: the start point, recorded already
        if cost == last["cost"]:
            return  # nothing evaluated since the last update (trust-constr's barrier updates)
        last["cost"] = cost
        callback(intermediate_result)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = minimize(oracle.scalar_f, x0.copy(), callback=report, **kwargs)
    if int(oracle.cost[0]) > last["cost"]:
        report(res)  # evaluations after the last reported iterate: charge them to the result
    return res, list(dict.fromkeys(str(w.message) for w in caught))


def _message(res, warned: list[str]) -> str:
    text = str(res.message)
    return text + (f" (scipy warned: {'; '.join(warned)})" if warned else "")


def _run_method(method: str, options: dict, bounded: bool = True):
    def run(x0, oracle, callback):
        res, warned = solve(method, oracle, x0, callback, options, bounded)
        return _message(res, warned)

    return run


def _positive(**values) -> None:
    for name, value in values.items():
        check(name, value, value > 0, "> 0")


@register_optimizer("scipy-bfgs", needs=("gradient",), batchable=False)
def scipy_bfgs(gtol: float = 1e-5) -> Optimizer:
    """scipy.optimize.minimize(method='BFGS') with the analytic gradient; unbounded."""
    _positive(gtol=gtol)
    return Optimizer(run=_run_method("BFGS", {"gtol": gtol}))


@register_optimizer("scipy-lbfgsb", needs=("gradient",), batchable=False)
def scipy_lbfgsb(gtol: float = 1e-5, ftol: float = 2.220446049250313e-09, maxcor: int = 10,
                 bounded: bool = True) -> Optimizer:
    """scipy L-BFGS-B with the analytic gradient, bounded by the domain (unless bounded=false)."""
    _positive(gtol=gtol, ftol=ftol)
    check("maxcor", maxcor, isinstance(maxcor, int) and maxcor >= 1, "a whole number >= 1")
    options = {"gtol": gtol, "ftol": ftol, "maxcor": maxcor}
    return Optimizer(run=_run_method("L-BFGS-B", options, bounded))


@register_optimizer("scipy-cg", needs=("gradient",), batchable=False)
def scipy_cg(gtol: float = 1e-5) -> Optimizer:
    """scipy nonlinear conjugate gradient (Polak–Ribière) with the analytic gradient; unbounded."""
    _positive(gtol=gtol)
    return Optimizer(run=_run_method("CG", {"gtol": gtol}))


@register_optimizer("scipy-newton-cg", needs=("gradient",), batchable=False)
def scipy_newton_cg(xtol: float = 1e-5) -> Optimizer:
    """scipy Newton-CG; Hessian-vector products from a constant Hessian where known, else
    finite differences of the gradient; unbounded."""
    _positive(xtol=xtol)
    return Optimizer(run=_run_method("Newton-CG", {"xtol": xtol}))


@register_optimizer("scipy-nelder-mead", needs=("bounds",), batchable=False)
def scipy_nelder_mead(xatol: float = 1e-4, fatol: float = 1e-4, adaptive: bool = False,
                      bounded: bool = True) -> Optimizer:
    """scipy Nelder–Mead simplex, f only, bounded by the domain (unless bounded=false)."""
    _positive(xatol=xatol, fatol=fatol)
    options = {"xatol": xatol, "fatol": fatol, "adaptive": adaptive}
    return Optimizer(run=_run_method("Nelder-Mead", options, bounded))


@register_optimizer("scipy-powell", needs=("bounds",), batchable=False)
def scipy_powell(xtol: float = 1e-4, ftol: float = 1e-4, bounded: bool = True) -> Optimizer:
    """scipy Powell's conjugate-direction method, f only, bounded by the domain (unless
    bounded=false)."""
    _positive(xtol=xtol, ftol=ftol)
    return Optimizer(run=_run_method("Powell", {"xtol": xtol, "ftol": ftol}, bounded))


@register_optimizer("scipy-tnc", needs=("gradient",), batchable=False)
def scipy_tnc(bounded: bool = True) -> Optimizer:
    """scipy truncated Newton (TNC) with the analytic gradient and its own tolerances, bounded
    by the domain (unless bounded=false)."""
    return Optimizer(run=_run_method("TNC", {}, bounded))


@register_optimizer("scipy-trust-constr", needs=("gradient",), batchable=False)
def scipy_trust_constr(gtol: float = 1e-8, xtol: float = 1e-8, bounded: bool = True) -> Optimizer:
    """scipy trust-constr with the analytic gradient and a BFGS Hessian approximation, bounded
    by the domain (unless bounded=false)."""
    _positive(gtol=gtol, xtol=xtol)
    return Optimizer(run=_run_method("trust-constr", {"gtol": gtol, "xtol": xtol}, bounded))


_MULTISTART = {"l-bfgs-b": "L-BFGS-B", "bfgs": "BFGS", "cg": "CG", "nelder-mead": "Nelder-Mead",
               "powell": "Powell"}


@register_optimizer("scipy-multistart", needs=("bounds",), batchable=False)
def scipy_multistart(method: str = "L-BFGS-B", max_starts: int = 100,
                     bounded: bool = True) -> Optimizer:
    """Restarts a scipy method from uniform points of the domain until the budget is spent;
    the iterate is the best point so far.

    The first start is the run's start point, the others come from the run's own
    generator; all share the run's budget. The gradient is used where the problem has one
    (without it, scipy's finite differences are charged as f evaluations). Methods:
    L-BFGS-B (default), BFGS, CG, Nelder-Mead, Powell; bounds as for the single methods.
    """
    import numpy as np

    scipy_name = _MULTISTART.get(str(method).lower())
    check("method", method, scipy_name is not None, "one of " + ", ".join(_MULTISTART.values()))
    check("max_starts", max_starts, isinstance(max_starts, int) and max_starts >= 1,
          "a whole number >= 1")

    def run(x0, oracle, callback):
        best = {"f": np.inf, "x": None, "shown": np.inf}

        def offer(x, f) -> None:
            if f < best["f"]:
                best["f"], best["x"] = float(f), np.array(x, dtype=float)

        def show() -> None:
            best["shown"] = best["f"]
            callback(best["x"])

        def report(intermediate_result):  # this parameter name asks scipy for an OptimizeResult
            offer(intermediate_result.x, intermediate_result.fun)
            show()

        lo, hi = oracle.problem.lower, oracle.problem.upper
        x, warned, last = np.asarray(x0, dtype=float), [], ""
        for _ in range(max_starts):
            res, w = solve(scipy_name, oracle, x, report, None, bounded)
            warned, last = warned + w, str(res.message)
            offer(res.x, res.fun)
            if best["f"] < best["shown"]:
                show()  # the final point beats the last iterate scipy reported
            x = oracle.rng.uniform(lo, hi, (lo.size,))[0]
        text = f"{max_starts} starts done, best f = {best['f']:.6g}; the last ended: {last}"
        warned = list(dict.fromkeys(warned))
        return text + (f" (scipy warned: {'; '.join(warned)})" if warned else "")

    return Optimizer(run=run)
