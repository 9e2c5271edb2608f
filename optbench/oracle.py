"""The oracle: the only way an optimizer evaluates a problem, and the one place costs count.

One oracle wraps a problem for one batch of ``B`` runs. Per run it keeps an ``active`` flag
and two counters, ``n_f`` and ``n_g`` (one gradient is one evaluation on the default cost
axis ``n_f + n_g``). A run whose next evaluation would pass its budget is refused, frozen
(``active`` false) and marked ``exhausted``; it is never charged again, even in the middle
of a line search. A problem whose gradient is taken by finite differences
(:meth:`optbench.problem.Problem.gradient_cost`) is charged every f evaluation a gradient
makes, on ``n_f``, instead of one ``n_g``. Refused and inactive rows get ``nan`` back, so
a loop such as ``while np.any(f_new > bound)`` ends for them by itself. At each call the
oracle also checks a cooperative wall-clock deadline.

The runner evaluates every iterate for its own trace without charging anyone; when the
optimizer then asks for the value at the very same array, the oracle hands over the
recorded value and charges it as a fresh evaluation, so recording costs no extra work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from .errors import BudgetExhausted, DeadlineExceeded
from .problem import Problem

__all__ = ["Oracle", "RunRNG"]


class RunRNG:
    """Per-run random generators for the rows of a batch.

    A batch draws exactly what each of its runs would draw alone, so batched and
    one-at-a-time execution agree. Built from seeds (:meth:`from_seeds`), a row's generator
    is created the first time that row draws: most optimizers never draw, and creating a
    generator costs about as much as a whole GD step of a small batch.
    """

    def __init__(self, generators: Sequence[np.random.Generator]):
        self._gens: list[np.random.Generator | None] = list(generators)
        self._seeds: list[int] | None = None

    @classmethod
    def from_seeds(cls, seeds: Sequence[int]) -> RunRNG:
        """Row ``i`` draws from ``numpy.random.default_rng(seeds[i])``, created on first use."""
        rng = cls(())
        rng._seeds = [int(s) for s in seeds]
        rng._gens = [None] * len(rng._seeds)
        return rng

    def _gen(self, i: int) -> np.random.Generator:
        g = self._gens[i]
        if g is None:
            assert self._seeds is not None  # only from_seeds leaves a generator to make
            g = self._gens[i] = np.random.default_rng(self._seeds[i])
        return g

    @property
    def generators(self) -> list[np.random.Generator]:
        """Every row's generator, in row order (the same objects on every call)."""
        return [self._gen(i) for i in range(len(self._gens))]

    def __len__(self) -> int:
        return len(self._gens)

    def subset(self, rows: np.ndarray) -> RunRNG:
        """The generators of the rows selected by a boolean mask or an index array."""
        idx = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        return RunRNG([self._gen(int(i)) for i in idx])

    def uniform(self, low, high, size: tuple[int, ...] = ()) -> np.ndarray:
        """Shape ``(B, *size)``; ``low``/``high`` broadcast against ``size``."""
        return np.stack([g.uniform(low, high, size) for g in self.generators])

    def normal(self, size: tuple[int, ...] = ()) -> np.ndarray:
        """Standard normal draws of shape ``(B, *size)``."""
        return np.stack([g.standard_normal(size) for g in self.generators])

    def integers(self, low: int, high: int, size: tuple[int, ...] = ()) -> np.ndarray:
        """Integers in ``[low, high)`` of shape ``(B, *size)``."""
        return np.stack([g.integers(low, high, size) for g in self.generators])


class Oracle:
    """Counts and budgets every evaluation of one batch.

    Args:
        problem: the problem being optimized.
        n_runs: the batch size B.
        budget: evaluations allowed per run (``n_f + n_g``), scalar or ``(B,)``; None = no limit.
        rng: the runs' generators (stochastic gradients, random search).
        deadline: a ``time.monotonic()`` value after which every run times out.
    """

    def __init__(
        self,
        problem: Problem,
        n_runs: int,
        budget=None,
        rng: RunRNG | None = None,
        deadline: float | None = None,
    ):
        self.problem = problem
        self.n_runs = n_runs
        self.active = np.ones(n_runs, dtype=bool)
        self.exhausted = np.zeros(n_runs, dtype=bool)
        self.timed_out = False
        self.n_f = np.zeros(n_runs, dtype=np.int64)
        self.n_g = np.zeros(n_runs, dtype=np.int64)
        self.budget = (
            None
            if budget is None
            else np.broadcast_to(np.asarray(budget, dtype=np.int64), (n_runs,))
        )
        self.rng = rng if rng is not None else RunRNG.from_seeds([0] * n_runs)
        self.deadline = deadline
        self.gap: np.ndarray | None = None  # f - f* at the current iterates (plateau schedules)
        # (n_f, n_g) per run for a gradient, and for a gradient with its value
        self._cost_g = problem.gradient_cost(with_value=False)
        self._cost_vg = problem.gradient_cost(with_value=True)
        self._cache_x: np.ndarray | None = None
        self._cache_f: np.ndarray | None = None
        self._cache_g: np.ndarray | None = None

    # -- bookkeeping -----------------------------------------------------------------------
    @property
    def cost(self) -> np.ndarray:
        """Evaluations used per run, on the default axis ``n_f + n_g``."""
        return self.n_f + self.n_g

    def _admit(self, cost: int) -> np.ndarray:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            self.active[:] = False
        if self.budget is not None:
            broke = self.active & (self.n_f + self.n_g + cost > self.budget)
            if broke.any():
                self.exhausted |= broke
                self.active &= ~broke
        return self.active

    # -- what the runner tells the oracle ------------------------------------------------------
    def observe(self, X: np.ndarray, f: np.ndarray, g: np.ndarray | None) -> None:
        """The runner's uncharged evaluation at the new iterates ``X``: reused if the
        optimizer asks for it, and ``gap`` (f − f*, where f* is known) for schedules."""
        self._cache_x, self._cache_f = X, f
        self._cache_g = None if self.problem.stochastic else g
        if self.problem.f_star is not None:
            self.gap = f - self.problem.f_star

    def stop(self, rows: np.ndarray) -> None:
        """The runner decided a status for ``rows``: they get no further evaluation."""
        self.active &= ~rows

    # -- evaluations for step-wise optimizers ------------------------------------------------
    def f(self, X: np.ndarray) -> np.ndarray:
        """Values at ``X`` (B, d) for the active runs, ``nan`` elsewhere; one ``n_f`` each."""
        rows = self._admit(1)
        if X is self._cache_x and self._cache_f is not None:
            out = np.where(rows, self._cache_f, np.nan)
        elif rows.all():
            out = np.asarray(self.problem.f(X), dtype=float)
        else:
            out = np.full(self.n_runs, np.nan)
            if rows.any():
                out[rows] = self.problem.f(X[rows])
        self.n_f += rows
        return out

    def _charge(self, rows, cost: tuple[int, int]) -> None:
        """Add ``cost`` (n_f, n_g) to each admitted row; a counter it leaves alone is not
        touched (the usual gradient: one n_g, no array arithmetic on n_f)."""
        for counter, n in ((self.n_f, cost[0]), (self.n_g, cost[1])):
            if n:
                counter += rows if n == 1 else rows * n

    def grad(self, X: np.ndarray) -> np.ndarray:
        """Gradients at ``X`` (B, d) for the active runs, ``nan`` elsewhere; one ``n_g`` each
        (a finite-difference gradient: the f evaluations it makes, on ``n_f``)."""
        rows = self._admit(sum(self._cost_g))
        if X is self._cache_x and self._cache_g is not None:
            out = self._cache_g if rows.all() else np.where(rows[:, None], self._cache_g, np.nan)
        elif rows.all():
            out = self._grad(X, rows)
        else:
            out = np.full(X.shape, np.nan)
            if rows.any():
                out[rows] = self._grad(X[rows], rows)
        self._charge(rows, self._cost_g)
        return out

    def value_and_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both at once: one ``n_f`` and one ``n_g`` per active run (a finite-difference
        gradient: the f evaluations it makes, the value's included, on ``n_f``)."""
        rows = self._admit(sum(self._cost_vg))
        if X is self._cache_x and self._cache_f is not None and self._cache_g is not None:
            f = np.where(rows, self._cache_f, np.nan)
            g = self._cache_g if rows.all() else np.where(rows[:, None], self._cache_g, np.nan)
        else:
            f, g = np.full(self.n_runs, np.nan), np.full(X.shape, np.nan)
            if rows.any():
                Xr = X if rows.all() else X[rows]
                if self.problem.stochastic:
                    f[rows], g[rows] = self.problem.f(Xr), self._grad(Xr, rows)
                else:
                    f[rows], g[rows] = self.problem.value_and_grad(Xr)
        self._charge(rows, self._cost_vg)
        return f, g

    def _grad(self, X: np.ndarray, rows: np.ndarray) -> np.ndarray:
        stochastic_grad = self.problem.stochastic_grad
        if stochastic_grad is not None:
            return stochastic_grad(X, self.rng.subset(rows))
        return self.problem.grad(X)

    # -- evaluations of one run of a batch -----------------------------------------------------
    def row_value_and_grad(
        self, b: int, x: np.ndarray, grad: bool = True
    ) -> tuple[float, np.ndarray | None]:
        """f (and with ``grad`` the gradient) at run ``b``'s point ``x`` (shape ``(d,)``),
        charged to that run alone (one ``n_f``, one ``n_g``, or what a finite-difference
        gradient costs); ``nan`` (uncharged) once it is refused. For a library that
        evaluates one run at a time inside its own update (optax's line searches)."""
        charge = self._cost_vg if grad else (1, 0)
        cost = sum(charge)
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            self.active[:] = False
        if (
            self.active[b]
            and self.budget is not None
            and self.n_f[b] + self.n_g[b] + cost > self.budget[b]
        ):
            self.exhausted[b] = True
            self.active[b] = False
        X = np.asarray(x, dtype=float).reshape(1, -1)
        if not self.active[b]:
            return float("nan"), (np.full(X.shape[1], np.nan) if grad else None)
        self.n_f[b] += charge[0]
        self.n_g[b] += charge[1]
        g = None
        if not grad:
            f = self.problem.f(X)
        elif self.problem.stochastic:
            rows = np.zeros(self.n_runs, dtype=bool)
            rows[b] = True
            f, g = self.problem.f(X), self._grad(X, rows)
        else:
            f, g = self.problem.value_and_grad(X)
        if grad:
            g = np.array(g, dtype=float).reshape(-1)
        return float(np.asarray(f).reshape(-1)[0]), g

    # -- evaluations for optimizers that own their loop (one run) ----------------------------
    def _admit_one(self, cost: int) -> None:
        if not self._admit(cost)[0]:
            if self.timed_out:
                raise DeadlineExceeded("the run passed its wall-clock deadline")
            limit = "" if self.budget is None else f" of {int(self.budget[0])} evaluations"
            raise BudgetExhausted(f"the budget{limit} is used up")

    def scalar_f(self, x: np.ndarray) -> float:
        """``f(x)`` for a single run's point ``x`` of shape ``(d,)``; raises at the budget."""
        self._admit_one(1)
        self.n_f[0] += 1
        return float(self.problem.f(np.asarray(x, dtype=float).reshape(1, -1))[0])

    def scalar_grad(self, x: np.ndarray) -> np.ndarray:
        """The gradient at a single run's point ``x``; raises at the budget."""
        self._admit_one(sum(self._cost_g))
        self.n_f[0] += self._cost_g[0]
        self.n_g[0] += self._cost_g[1]
        X = np.asarray(x, dtype=float).reshape(1, -1)
        return np.array(self._grad(X, self.active), dtype=float).reshape(-1)

    def scalar_value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Both at a single run's point ``x``, admitted together (one ``n_f`` and one ``n_g``):
        a caller that needs both, such as a torch closure, is refused both or charged both."""
        self._admit_one(sum(self._cost_vg))
        self.n_f[0] += self._cost_vg[0]
        self.n_g[0] += self._cost_vg[1]
        X = np.asarray(x, dtype=float).reshape(1, -1)
        if self.problem.stochastic:
            f, g = self.problem.f(X), self._grad(X, self.active)
        else:
            f, g = self.problem.value_and_grad(X)
        return float(np.asarray(f).reshape(-1)[0]), np.array(g, dtype=float).reshape(-1)
