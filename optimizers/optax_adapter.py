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

A transformation whose update needs ``value``, ``grad`` and ``value_fn`` (optax's
``GradientTransformationExtraArgs`` with a line search: ``optax[fn=optax.lbfgs]``) is run
as optax's documented loop runs it: ``value_fn`` is the problem through the oracle, each
call charged to its run (a value with its gradient one ``n_f`` and one ``n_g``), and the
value and gradient at the next point are those the line search left in the state. Its
update is compiled (``jax.jit``) once per set of hyperparameters and dimension in a process.

optax is an optional dependency (``pip install 'optbench[optax]'``), imported only when a
spec names this adapter.
"""

from __future__ import annotations

from typing import Any

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
    if _needs_value_fn(probe, jnp):
        def key(b: int) -> str:  # runs with the same hyperparameters share a compiled update
            return repr((fn, str(schedule), _of_run(lr, b),
                         sorted((k, _of_run(v, b)) for k, v in options.items())))

        return Optimizer(step=_extra_args_step(optax, jax, jnp, make, key, lr))

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



def _needs_value_fn(tx, jnp) -> bool:
    """True for a GradientTransformationExtraArgs whose update needs ``value``, ``grad`` and
    ``value_fn`` (a line search: ``optax.lbfgs``, ``scale_by_zoom_linesearch``)."""
    params = jnp.zeros(1)
    state = tx.init(params)
    try:
        tx.update(jnp.zeros(1), state, params)
    except TypeError as exc:
        text = str(exc)
        if "value_fn" in text or "'value'" in text:
            return True
        raise
    return False


def _extra_args_step(optax, jax, jnp, make, key, lr):
    """The update of a transformation that evaluates the objective itself: ``value_fn`` is
    the problem through the oracle, each call charged to its run (a value and gradient
    together, as ``jax.value_and_grad`` asks for them, one ``n_f`` and one ``n_g``; a value
    alone one ``n_f``). The value and gradient at the current point are those the line
    search left in the state (optax's ``value_and_grad_from_state``: evaluated there
    already), else evaluated and charged. The update is compiled once per set of
    hyperparameters and reused by every update of every run sharing them."""
    import numpy as np

    def step(x, state, oracle, t):
        if state is None:
            state = _extra_args_state(optax, jax, jnp, make, key, x, oracle)
        _NOW["oracle"] = oracle
        new = x.copy()
        for b, tx in enumerate(state["txs"]):
            if not oracle.active[b]:
                continue
            s = state["states"][b]
            value, grad = _from_state(optax, s)
            if value is None or not np.isfinite(value):
                value, grad = oracle.row_value_and_grad(b, x[b])
                if not oracle.active[b]:
                    continue
            params = jnp.asarray(x[b])
            _NOW["b"] = b
            updates, state["states"][b] = state["update"][b](
                jnp.asarray(grad), s, params, jnp.asarray(value, dtype=jnp.float64))
            new[b] = np.asarray(optax.apply_updates(params, updates))
        state["lr"] = lr
        return new, state

    return step


def _from_state(optax, s):
    try:
        return float(optax.tree.get(s, "value")), optax.tree.get(s, "grad")
    except (KeyError, ValueError, TypeError):
        return None, None


_COMPILED: dict[tuple[str, int], object] = {}  # (hyperparameters, d): a compiled update
_NOW: dict[str, Any] = {}  # the oracle and the run a compiled value_fn evaluates for


def _charged_value_fn(jax, jnp, d: int):
    """``value_fn(p)`` for optax: the problem through the oracle of the current run
    (``_NOW``), a value alone charged one ``n_f``, a value with its gradient (as
    ``jax.value_and_grad`` asks) one ``n_f`` and one ``n_g``."""
    import numpy as np

    def host_fg(p):
        f, g = _NOW["oracle"].row_value_and_grad(_NOW["b"], np.asarray(p))
        return np.float64(f), np.asarray(g, dtype=np.float64)

    def host_f(p):
        f, _ = _NOW["oracle"].row_value_and_grad(_NOW["b"], np.asarray(p), grad=False)
        return np.float64(f)

    scalar = jax.ShapeDtypeStruct((), jnp.float64)
    vector = jax.ShapeDtypeStruct((d,), jnp.float64)

    @jax.custom_vjp
    def value_fn(p):
        return jax.pure_callback(host_f, scalar, p)

    def value_fn_fwd(p):
        return jax.pure_callback(host_fg, (scalar, vector), p)

    def value_fn_bwd(g, ct):
        return (ct * g,)

    value_fn.defvjp(value_fn_fwd, value_fn_bwd)
    return value_fn


def _extra_args_state(optax, jax, jnp, make, key, x, oracle):
    B, d = x.shape
    _NOW["oracle"] = oracle  # this batch's: a compiled update is shared across batches
    txs = [make(b) for b in range(B)]
    updates = []
    for b, tx in enumerate(txs):
        k = (key(b), d)
        if k not in _COMPILED:
            value_fn = _charged_value_fn(jax, jnp, d)
            _COMPILED[k] = jax.jit(
                lambda g, s, p, v, tx=tx, value_fn=value_fn: tx.update(
                    g, s, p, value=v, grad=g, value_fn=value_fn))
        updates.append(_COMPILED[k])

    def strong(a):  # the state as the update returns it (no weak types): compiled once
        a = jnp.asarray(a)
        return a.astype(a.dtype)

    states = [jax.tree.map(strong, tx.init(jnp.asarray(x[b]))) for b, tx in enumerate(txs)]
    return {"txs": txs, "states": states, "update": updates}
