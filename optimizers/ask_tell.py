"""Derivative-free optimizers with an ask/tell interface: CMA-ES (the ``cma`` package) and any
object a user's factory returns.

``ask-tell[factory=mypkg.make_es,popsize=8]`` calls ``factory(x0, **options)`` once per run
(``x0`` the run's start point, shape ``(d,)``; it also gets ``seed=`` and ``bounds=(lower,
upper)``, the problem's domain, if it takes parameters of those names), then repeats, one
update per generation: ``points = obj.ask()`` (``(λ, d)``, or one point ``(d,)``), each
point evaluated through the oracle (one ``n_f`` each), ``obj.tell(points, values)`` (lower
is better). ``cma[sigma0=0.5]``
is the same loop with ``cma.CMAEvolutionStrategy(x0, sigma0, options)``, bounded by the
domain unless ``bounded=false`` or the problem is 1-D, where cma's bound handling fails
(``pip install 'optbench[cma]'``).

The recorded iterate is the incumbent, the best point evaluated so far (as for random
search). The seed comes from the run's own generator, so a seed gives the same run whether
it runs alone or in a batch; runs of a batch ask and tell their own objects and share only
the evaluation calls. An object that draws from numpy's global generator (``np.random.*``)
gets a global generator of its own run: seeded from the run's seed and kept between its
calls, the process's state restored after each call. Where the runs of a batch ask for
different numbers of points, the batch raises and the runner repeats its runs one at a
time. Warnings the library raises inside ask/tell are not passed on (``cma`` warns, e.g.,
on flat fitness). The adapter never stops a run on the library's own termination
criteria: the runner's statuses (budget, converged, stalled, ...) end it.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

from optbench import Optimizer, check, register_optimizer
from optbench.extras import import_dotted, require


def _call_factory(factory, x0, seed: int, bounds, options: dict[str, Any]):
    try:
        params = set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        params = set()
    extra = {}
    if "seed" in params:
        extra["seed"] = seed
    if "bounds" in params and bounds is not None:
        extra["bounds"] = bounds
    return factory(x0, **extra, **options)


class _OwnGlobalGenerator:
    """Run ``b``'s calls see its own numpy global generator (``np.random.*``): many libraries
    draw from it, and runs sharing it would depend on their batch and on what ran before in
    the process. Each run's state is seeded from the run's seed and kept between its calls;
    the process's state is put back after each call."""

    def __init__(self, seeds: list[int]):
        import numpy as np

        self.np = np
        self.states = [np.random.RandomState(s).get_state() for s in seeds]

    def call(self, b: int, fn, *args):
        np = self.np
        saved = np.random.get_state()
        np.random.set_state(self.states[b])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fn(*args)
        finally:
            self.states[b] = np.random.get_state()
            np.random.set_state(saved)


def ask_tell_loop(make) -> Optimizer:
    """The batched generation loop around ``make(x0, seed, bounds, b) -> object`` (``b``: the
    run's row in the batch, for per-run hyperparameters). Every call into a run's object
    (made, asked, told) sees that run's own numpy global generator
    (:class:`_OwnGlobalGenerator`)."""
    import numpy as np

    def step(x, state, oracle, t):
        if state is None:
            bounds = (oracle.problem.lower, oracle.problem.upper)  # the problem's domain
            seeds = [int(g.integers(1, 2**31 - 1)) for g in oracle.rng.generators]
            own = _OwnGlobalGenerator(seeds)
            state = {"objs": [own.call(b, make, x[b].copy(), seeds[b], bounds, b)
                              for b in range(len(x))],
                     "f": np.full(len(x), np.inf), "own": own}
        objs, active, own = state["objs"], oracle.active.copy(), state["own"]
        asked = [np.asarray(own.call(b, o.ask), dtype=float) if active[b] else None
                 for b, o in enumerate(objs)]
        single = [a is not None and a.ndim == 1 for a in asked]
        pts = [a[None] if one else a for a, one in zip(asked, single, strict=True)]
        sizes = {len(p) for p in pts if p is not None}
        if len(sizes) > 1:
            raise ValueError(f"ask() returned {sorted(sizes)} points across the runs of a batch")
        lam = sizes.pop()
        P = np.stack([p if p is not None else np.broadcast_to(x[b], (lam, x.shape[1]))
                      for b, p in enumerate(pts)], axis=1)  # (λ, B, d)
        F = np.stack([oracle.f(np.ascontiguousarray(P[i])) for i in range(lam)])  # (λ, B)
        x = x.copy()
        for b, o in enumerate(objs):
            if not active[b] or not oracle.active[b]:
                continue  # refused during the generation: the run is over, tell nothing
            values = [float(v) for v in F[:, b]]
            if single[b]:
                own.call(b, o.tell, asked[b], values[0])
            else:
                own.call(b, o.tell, list(pts[b]), values)
        best = np.argmin(np.where(np.isnan(F), np.inf, F), axis=0)
        fb = F[best, np.arange(F.shape[1])]
        better = fb < state["f"]
        state["f"] = np.where(better, fb, state["f"])
        x[better] = P[best[better], np.flatnonzero(better)]
        return x, state

    return Optimizer(step=step)


class CompassSearch:
    """Compass search (Kolda, Lewis & Torczon 2003), the default ask/tell object and a
    template for one: asks x ± s·e_i, moves to the best of them if it improves on x, else
    halves s."""

    def __init__(self, x0, step: float = 0.5):
        import numpy as np

        if not step > 0:
            raise ValueError(f"step must be > 0, got {step!r}")
        self.x, self.s, self.f = np.asarray(x0, dtype=float), float(step), float("inf")

    def ask(self):
        import numpy as np

        e = self.s * np.eye(self.x.size)
        return np.concatenate([self.x + e, self.x - e])

    def tell(self, points, values) -> None:
        import numpy as np

        i = int(np.argmin(values))
        if values[i] < self.f:
            self.x, self.f = np.asarray(points[i], dtype=float), float(values[i])
        else:
            self.s /= 2


@register_optimizer("ask-tell", needs=(), batchable=True, samples=True)
def ask_tell(factory: str = "optbench.optimizers.ask_tell.CompassSearch",
             **options) -> Optimizer:
    """Any ask/tell optimizer: ``factory(x0, **options)`` by import path (gets ``seed`` and
    ``bounds`` if it takes them); one update per generation, every point charged. The
    default is compass search."""
    import numpy as np

    make_obj = import_dotted(factory, "factory")
    if not callable(make_obj):
        raise ValueError(f"factory must name something callable, got {factory!r}")

    def of_run(b: int) -> dict[str, Any]:  # a swept real option arrives as a per-run column
        return {k: float(v[b, 0]) if isinstance(v, np.ndarray) else v
                for k, v in options.items()}

    try:  # a bad option fails now, with the factory's own message
        _call_factory(make_obj, np.zeros(2), 1, None, of_run(0))
    except Exception as exc:  # noqa: BLE001 — a user's factory may raise anything
        raise ValueError(f"{factory}(x0, **{of_run(0)}) fails: {type(exc).__name__}: {exc}"
                         ) from None
    return ask_tell_loop(
        lambda x0, seed, bounds, b: _call_factory(make_obj, x0, seed, bounds, of_run(b)))


def run_randn(seed: int):
    """cma's ``randn`` option from the run's own generator: cma otherwise samples from numpy's
    global generator, which the runs of a batch would share."""
    import numpy as np

    gen = np.random.default_rng(seed)
    return lambda *shape: gen.standard_normal(shape)


@register_optimizer("cma", needs=(), batchable=True, samples=True)
def cma_es(sigma0: float = 0.5, popsize: int | None = None, bounded: bool = True,
           **options) -> Optimizer:
    """CMA-ES (Hansen) through the ``cma`` package: CMAEvolutionStrategy(x0, sigma0), one
    generation per update; other options go to cma's options dict (e.g. CMA_diagonal)."""
    require("cma", "cma", "the cma adapter")
    check("sigma0", sigma0, sigma0 > 0, "> 0")
    if popsize is not None:
        check("popsize", popsize, isinstance(popsize, int) and popsize >= 2, "a whole number >= 2")

    def make(x0, seed, bounds, b):
        import cma
        import numpy as np

        sigma = float(sigma0[b, 0]) if isinstance(sigma0, np.ndarray) else float(sigma0)
        opts = {"seed": seed, "randn": run_randn(seed), "verbose": -9, **options}
        if popsize is not None:
            opts["popsize"] = popsize
        if bounded and bounds is not None and len(x0) > 1:
            # cma's bound handling fails in 1-D (pycma issue #302): 1-D runs are unbounded
            opts["bounds"] = [list(bounds[0]), list(bounds[1])]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cma.CMAEvolutionStrategy(x0, sigma, opts)

    try:  # a bad option fails now, with cma's own message
        make([0.0, 0.0], 1, None, 0)
    except Exception as exc:  # noqa: BLE001 — cma raises many kinds for a bad option
        raise ValueError(f"cma rejects the options {options}: {exc}") from None
    return ask_tell_loop(make)
