"""Options every gradient optimizer shares: gradient clipping and L2 weight decay.

``gradient(oracle, x, clip_norm, weight_decay)`` is the gradient an update rule sees, in
the order a torch training loop produces it: the oracle's gradient g, clipped by its norm
as ``torch.nn.utils.clip_grad_norm_(max_norm=c)`` clips it (g ← g·min(1, c/(‖g‖ + 10⁻⁶));
each run is its own "model", so the norm is per run), then, inside the optimizer's
``step``, the coupled weight decay ``g ← g + λ·x`` (torch's ``weight_decay`` of SGD, Adam,
Adagrad, RMSprop, NAdam, RAdam, Adamax, Adadelta). Decoupled decay (AdamW, Lion) shrinks
x itself and is each rule's own business.
"""

from __future__ import annotations

from optbench import check


def check_options(clip_norm, weight_decay) -> None:
    if clip_norm is not None:
        check("clip_norm", clip_norm, clip_norm > 0, "> 0 (or none: no clipping)")
    check("weight_decay", weight_decay, weight_decay >= 0, ">= 0")


def clip(g, clip_norm):
    """``g`` scaled per run (row) to norm at most ``clip_norm`` (torch's 10⁻⁶ guard)."""
    import numpy as np

    if clip_norm is None:
        return g
    norm = np.linalg.norm(g, axis=1, keepdims=True)
    return g * np.minimum(1.0, clip_norm / (norm + 1e-6))


def gradient(oracle, x, clip_norm=None, weight_decay=0.0):
    """The oracle's gradient at ``x``, clipped, plus the coupled weight decay ``λ·x``."""
    import numpy as np

    g = clip(oracle.grad(x), clip_norm)
    if np.any(weight_decay != 0):
        g = g + weight_decay * x
    return g
