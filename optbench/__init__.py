"""optbench: a pluggable optimizer benchmark suite.

Convergence, overshoot and oscillation of optimizers, measured over seeds and sweeps and
set beside the theory. The public names below are imported lazily, so ``optbench --help``
does not pay for numpy, scipy or pandas.

Example:
    >>> import optbench
    >>> res = optbench.run(problems=["quadratic-1d"], optimizers=["gd[lr=0.5]"], seeds=2,
    ...                    budget=50, out=tmp_dir, report=False)   # doctest: +SKIP
    >>> res.runs[["optimizer", "status"]]                          # doctest: +SKIP
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str | tuple[str, str]] = {
    # the Python API
    "run": "optbench.api",
    "load": "optbench.api",
    "load_trace": "optbench.api",
    "Results": "optbench.api",
    "make_problem": "optbench.api",
    # contracts
    "Problem": "optbench.problem",
    "Optimizer": "optbench.optimizer",
    "check": "optbench.optimizer",
    "make_schedule": "optbench.optimizer",
    "cycled_momentum": "optbench.optimizer",
    "whole": "optbench.optimizer",
    "Oracle": "optbench.oracle",
    "Spec": "optbench.spec",
    "parse_spec": ("optbench.spec", "parse"),
    # the registry
    "register_problem": "optbench.registry",
    "register_optimizer": "optbench.registry",
    "register_schedule": "optbench.registry",
    "register_section": "optbench.registry",
    "register_executor": "optbench.registry",
    "load_plugin": "optbench.registry",
    # errors
    "OptbenchError": "optbench.errors",
    "UsageError": "optbench.errors",
    "SpecError": "optbench.errors",
    "UnknownNameError": "optbench.errors",
    "InvalidValueError": "optbench.errors",
    "PluginError": "optbench.errors",
    "StoreError": "optbench.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
