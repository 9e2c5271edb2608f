"""Any optax GradientTransformation factory by import path: ``optax[fn=optax.adamw,lr=1e-3]``.

``fn`` is called as ``fn(learning_rate=lr, **options)`` for each run (so ``lr`` takes
``1.5/L`` and sweeps, and ``optbench tune`` tunes it); every other option goes to ``fn``
as given (``b1=0.95``, ``weight_decay=1e-4``, ``nesterov=true``). ``schedule`` is an optax
schedule by import path with its arguments, passed as the learning rate instead of ``lr``
(``schedule=optax.cosine_decay_schedule(init_value=0.1,decay_steps=100)``); optax counts
from 0 at the first update, as optbench does.

Runs in float64: the adapter turns on ``jax_enable_x64`` (process-wide) before it builds
anything; in float32 optax's Adam drifts from torch's by about 3e-6. Each run has its own
transformation and state; the gradient comes from the oracle (one ``n_g`` per update) and
the update ``x ← x + u`` is ``optax.apply_updates``. Transformations are applied eagerly,
not jitted (a compile per run would cost more than the small problems here).

optax is an optional dependency (``pip install 'optbench[optax]'``), imported only when a
spec names this adapter.
"""

from __future__ import annotations

from optbench import Optimizer, check, register_optimizer
from optbench.extras import import_dotted, require


def _schedule(schedule):
    from optbench.spec import Spec

    if schedule is None:
        return None
    if isinstance(schedule, Spec):
        return import_dotted(schedule.name, "schedule")(**dict(schedule.params))
    return import_dotted(schedule, "schedule")


def _of_run(value, b: int):
    if hasattr(value, "shape"):
        return float(value[b, 0])
    return tuple(value) if isinstance(value, list) else value


@register_optimizer("optax", needs=("gradient",), batchable=True)
def optax_optimizer(fn: str = "optax.sgd", lr: float = 1e-3, schedule: str | None = None,
                    **options) -> Optimizer:
    """Any optax GradientTransformation factory by import path (``fn``), float64, one state
    per run; ``lr`` is its learning_rate, other options go to it; ``schedule`` is an optax
    schedule by import path, used as the learning rate."""
    import numpy as np

    optax = require("optax", "optax", "the optax adapter")
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    factory = import_dotted(fn, "fn")
    check("lr", lr, lr > 0, "> 0")
    sched = _schedule(schedule)

    def make(b: int):
        kwargs = {k: _of_run(v, b) for k, v in options.items()}
        return factory(learning_rate=sched if sched is not None else _of_run(lr, b), **kwargs)

    probe = make(0)  # a bad option fails now, with optax's own message
    if not (hasattr(probe, "init") and hasattr(probe, "update")):
        raise ValueError(f"fn must make an optax GradientTransformation, got {type(probe)!r}")
    probe.init(jnp.zeros(1))

    def step(x, state, oracle, t):
        if state is None:
            txs = [make(b) for b in range(len(x))]
            state = {"txs": txs,
                     "states": [tx.init(jnp.asarray(x[b])) for b, tx in enumerate(txs)]}
        g = oracle.grad(x)
        new = x.copy()
        for b, tx in enumerate(state["txs"]):
            if not oracle.active[b]:
                continue
            params = jnp.asarray(x[b])
            updates, state["states"][b] = tx.update(jnp.asarray(g[b]), state["states"][b], params)
            new[b] = np.asarray(optax.apply_updates(params, updates))
        state["lr"] = float(sched(t)) if sched is not None else lr
        return new, state

    return Optimizer(step=step)

