"""The theory mapping an optimizer declares when it registers: which quadratic model
predicts its path, and which of its hyperparameters play the model's parts
(``docs/architecture.md#the-theory-mapping``).

::

    @register_optimizer("my-momentum", theory=dict(
        model="heavy-ball", lr="lr", beta="mu", schedule="schedule",
        off=("weight_decay", "clip_norm")))
    def my_momentum(lr: float = 0.01, mu: float = 0.9, schedule: str = "constant",
                    weight_decay: float = 0.0, clip_norm: float | None = None): ...

The keys (each value names one of the factory's own parameters):

``model``
    ``"gd"`` (x ← x − η_t·g), ``"heavy-ball"`` (PyTorch's b ← β·b + g, x ← x − η_t·b) or
    ``"nesterov"`` (PyTorch's x ← x − η_t·(g + β·b); its linear rate only).
``lr``
    the base learning rate (required).
``beta``
    the momentum β, a number in [0, 1) (required by ``heavy-ball`` and ``nesterov``, refused
    by ``gd``).
``schedule``
    the learning-rate schedule, if the optimizer takes one; the theory rebuilds it to follow
    the path past the run's end. Without it the rate a run recorded is all there is.
``off``
    the hyperparameters that must be off (0, None or false) for the update to be the plain
    one the model describes, e.g. weight decay (moves the minimiser), gradient clipping
    (not linear), dampening or a Nesterov switch. A run with any of them on gets no ``th_*``.

The theory code reads only this mapping and the run's hyperparameters; it names no
hyperparameter of any optimizer. :func:`theory_mapping` checks a declaration and returns it
as plain JSON data (what the registry keeps, ``optimizer_meta(name)["theory"]``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

from .errors import PluginError

__all__ = ["KEYS", "THEORY_MODELS", "is_off", "theory_mapping"]

THEORY_MODELS = ("gd", "heavy-ball", "nesterov")
"""The quadratic models :mod:`optbench.theory` predicts (nesterov: its linear rate only)."""
KEYS = ("model", "lr", "beta", "schedule", "off")
"""The keys of a theory mapping, in the order the registry keeps them."""
_ROLES = ("lr", "beta", "schedule")  # the keys that name one hyperparameter each


def theory_mapping(optimizer: str, theory: Any, params: Iterable[str]) -> dict[str, Any] | None:
    """``theory`` checked against the factory's parameter names ``params`` and normalised to
    ``{"model", "lr", "beta", "schedule", "off"}`` (None where a role is not played, ``off``
    a list); None for None. A wrong declaration raises a one-line :class:`PluginError`."""
    if theory is None:
        return None
    where = f"optimizer {optimizer!r}: theory"
    if isinstance(theory, str):
        raise PluginError(
            f"{where} must name its hyperparameters, e.g. theory=dict(model={theory!r}, "
            f"lr=\"lr\"), got the bare model {theory!r}"
        )
    if not isinstance(theory, dict):
        raise PluginError(
            f"{where} must be a dict such as dict(model=\"gd\", lr=\"lr\"), got {theory!r}"
        )
    unknown = [k for k in theory if k not in KEYS]
    if unknown:
        raise PluginError(f"{where} has unknown keys {unknown}; allowed: {list(KEYS)}")
    model = theory.get("model")
    if model not in THEORY_MODELS:
        raise PluginError(f"{where} model must be one of {list(THEORY_MODELS)}, got {model!r}")
    names = list(params)
    out: dict[str, Any] = {"model": model}
    for role in _ROLES:
        value = theory.get(role)
        if value is not None and not isinstance(value, str):
            raise PluginError(
                f"{where} {role} must name a hyperparameter (a string), got {value!r}"
            )
        out[role] = value
    if out["lr"] is None:
        raise PluginError(f"{where} needs lr, the hyperparameter that holds the learning rate")
    if model == "gd" and out["beta"] is not None:
        raise PluginError(f"{where}: model 'gd' has no momentum, so beta must not be given")
    if model != "gd" and out["beta"] is None:
        raise PluginError(f"{where}: model {model!r} needs beta, the momentum hyperparameter")
    off = theory.get("off", ())
    if isinstance(off, str) or not isinstance(off, list | tuple):
        raise PluginError(f"{where} off must be a list of hyperparameter names, got {off!r}")
    if not all(isinstance(k, str) for k in off):
        raise PluginError(f"{where} off must be a list of hyperparameter names, got {list(off)!r}")
    out["off"] = list(off)
    mapped = [v for v in (out["lr"], out["beta"], out["schedule"], *out["off"]) if v is not None]
    for value in mapped:
        if value not in names:
            listing = ", ".join(names) or "none"
            raise PluginError(
                f"{where} names {value!r}, which is not one of its hyperparameters ({listing})"
            )
    if len(set(mapped)) != len(mapped):
        raise PluginError(f"{where} gives one hyperparameter two parts: {mapped}")
    return out


def is_off(value: Any) -> bool:
    """Whether a hyperparameter listed in ``off`` is off in a run: None, false or zero."""
    if value is None or value is False:
        return True
    return isinstance(value, numbers.Number) and not isinstance(value, bool) and value == 0
