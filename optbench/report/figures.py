"""Figure helpers the sections share: colours, margins and log axes of matplotlib figures,
identical curves, an empty panel's sentence, and the stored landscape resampled on a box
(:func:`zoom`) with the box a problem's paths are drawn in (:func:`path_box`). The
per-problem figure itself is interactive: :mod:`optbench.report.problem_chart`."""

from __future__ import annotations


def palette(n: int) -> list:
    """Distinguishable colours (matplotlib's tab10, then tab20)."""
    base = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    if n <= len(base):
        return base[:n]
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return base + [cmap(i % 20) for i in range(n - len(base))]


def layout(fig, left=0.62, right=0.15, bottom=0.5, top=0.32, wspace=0.55, hspace=0.6) -> None:
    """Fixed margins in inches (a layout engine costs more time than the whole drawing)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / w,
        right=1 - right / w,
        bottom=bottom / h,
        top=1 - top / h,
        wspace=wspace,
        hspace=hspace,
    )


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power(value: float, base: int) -> str:
    """A tick label as plain text (10⁻³, 2³): mathtext would parse every label."""
    import math

    if not value > 0:
        return ""
    e = math.log(value, base)
    if abs(e - round(e)) > 1e-9:
        return f"{value:g}"
    e = int(round(e))
    if base == 10 and e in (0, 1):
        return "1" if e == 0 else "10"
    return str(base) + str(e).translate(_SUPERSCRIPT)


# module-level formatters, so a figure pickles (figures are saved in a worker process)
def _pow10(value: float, _pos=None) -> str:
    return _power(value, 10)


def _pow2(value: float, _pos=None) -> str:
    return _power(value, 2)


def _minor10(value: float, _pos=None) -> str:
    """A 2 or 5 between decades in the decades' own style: 2, 50, 2·10⁻³, 5·10⁴."""
    import math

    if not value > 0:
        return ""
    e = math.floor(math.log10(value) + 1e-9)
    m = value / 10.0**e
    if abs(m - round(m)) > 1e-6:
        return ""
    if e in (0, 1):
        return f"{value:g}"
    return f"{round(m)}·10" + str(e).translate(_SUPERSCRIPT)


SHORT_SPAN = 1.5  # decades: a log axis spanning fewer also labels its 2s and 5s


def log_axes(ax, x: bool = True, y: bool = True, minor_x: bool = False, base: int = 10) -> None:
    """Log scales labelled in one style, 10⁻³ (or 2³), with decade ticks only (minor tick
    labels cost most of the drawing time) unless the axis spans under 1.5 decades (or
    ``minor_x``): then the 2s and 5s between are labelled too, as 2·10⁻³ (2, 20 and 50
    near 1)."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fmt = FuncFormatter(_pow2 if base == 2 else _pow10)
    ax.minorticks_off()
    for on, axis, scale, lims, minor in (
        (x, ax.xaxis, ax.set_xscale, ax.get_xlim, minor_x),
        (y, ax.yaxis, ax.set_yscale, ax.get_ylim, False),
    ):
        if not on:
            continue
        scale("log", base=base)
        axis.set_major_formatter(fmt)
        lo, hi = lims()
        short = lo > 0 and hi > 0 and abs(math.log10(hi / lo)) < SHORT_SPAN
        if base == 10 and (minor or short):
            axis.set_minor_locator(LogLocator(base=10, subs=(2, 5)))
            axis.set_minor_formatter(FuncFormatter(_minor10))
        else:
            axis.set_minor_formatter(NullFormatter())


SAME_DECADES = 0.005  # curves closer than this everywhere (log10; ~1 %) are the same
CLOSE_DECADES = 0.1  # closer than this, a line hides another: it is drawn dashed


def identical_groups(curves: dict) -> list[list[str]]:
    """Labels whose (positive, log-drawn) curves agree everywhere within
    :data:`SAME_DECADES` — one line on a log axis — in the order given: each group is drawn
    once and named in full."""
    groups: list[list[str]] = []
    for lab, c in curves.items():
        for g in groups:
            if same_curve(curves[g[0]], c):
                g.append(lab)
                break
        else:
            groups.append([lab])
    return groups


def same_curve(a, b, decades: float = SAME_DECADES) -> bool:
    """Whether two positive curves agree everywhere within ``decades`` on a log axis."""
    import numpy as np

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return False
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.abs(np.log10(a) - np.log10(b))
    both = (a == b) | (np.isnan(a) & np.isnan(b))
    return bool(np.all(both | (d <= decades)))


def empty_panel(ax, sentence: str) -> None:
    """An axes with nothing to draw: one sentence instead of empty axes."""
    import textwrap

    ax.cla()
    ax.set_axis_off()
    ax.text(0.5, 0.5, textwrap.fill(sentence, 36), ha="center", va="center",
            transform=ax.transAxes, fontsize=8.5, color="#5b6475")


def path_box(info: dict, paths: list):
    """The plotting box: the problem's ``draw["window"]`` hint (the window its stored
    landscape covers), else the paths and x* padded, inside the domain."""
    import numpy as np

    d = int(info.get("dim") or 1)
    hint = (info.get("draw") or {}).get("window")
    if hint is not None:
        w = np.asarray(hint, dtype=float).reshape(-1, 2)
        return w[:, 0], w[:, 1]
    lo, hi = (np.asarray(b, dtype=float) for b in info["domain"])
    pts = [p for p in paths if len(p)]
    if info.get("x_star") is not None:
        pts.append(np.asarray(info["x_star"], dtype=float).reshape(-1, d))
    if not pts:
        return lo, hi
    allp = np.concatenate(pts)
    allp = allp[np.all(np.isfinite(allp), axis=1)]
    allp = np.clip(allp, lo, hi)
    plo, phi = allp.min(axis=0), allp.max(axis=0)
    pad = np.maximum(0.15 * (phi - plo), 0.05 * (hi - lo))
    return np.maximum(plo - pad, lo), np.minimum(phi + pad, hi)


def zoom(grid: dict, lo, hi, n: int):
    """The stored landscape (:meth:`optbench.problem.Problem.stored_landscape`) resampled
    on ``n`` points per axis over the box ``[lo, hi]`` inside it: linear in 1-D, cubic
    convolution in 2-D (:func:`resample`; linear where the grid holds non-finite values).
    Where the box is the stored window, the points are grid points and the values the
    stored ones. Returns ``(xs, fs)`` in 1-D, ``(X1, X2, F)`` in 2-D, as
    :meth:`Problem.landscape`."""
    import numpy as np

    from optbench.problem import landscape_axes

    f = float(grid["offset"]) + np.asarray(grid["f"], dtype=float)
    axes = landscape_axes(grid)
    pts = [
        np.clip(np.linspace(a, b, n), ax[0], ax[-1])
        for a, b, ax in zip(lo, hi, axes, strict=True)
    ]
    if len(axes) == 1:
        return pts[0], np.interp(pts[0], axes[0], f)
    X1, X2 = np.meshgrid(*pts)
    cubic = bool(np.all(np.isfinite(f)))
    # rows of f run along the second coordinate, columns along the first
    F = resample(resample(f, axes[1], pts[1], 0, cubic), axes[0], pts[0], 1, cubic)
    return X1, X2, F


def resample(values, grid, at, axis: int, cubic: bool = True):
    """``values`` sampled on the uniform ``grid`` along ``axis``, interpolated at ``at``
    (inside the grid).

    Cubic: Keys' cubic convolution (a = −½), with his end condition
    f₋₁ = 3f₀ − 3f₁ + f₂: third-order accurate, exact for polynomials of degree two, and
    through the grid values at grid points. Applied along each axis in turn it interpolates
    a bivariate quadratic exactly, the whole grid included. Linear otherwise. Only the
    neighbours of a point enter it, so a non-finite value spoils only its own cells.
    Written here because it is a few lines of numpy, where scipy.interpolate costs the
    report's workers more to import than all of their resampling takes.
    """
    import numpy as np

    v = np.moveaxis(np.asarray(values, dtype=float), axis, 0)
    grid = np.asarray(grid, dtype=float)
    n = grid.size
    u = (np.asarray(at, dtype=float) - grid[0]) / (grid[-1] - grid[0]) * (n - 1)
    i = np.clip(np.floor(u).astype(np.int64), 0, n - 2)
    s = (u - i).reshape((-1,) + (1,) * (v.ndim - 1))
    if not cubic or n < 3:
        out = (1.0 - s) * v[i] + s * v[i + 1]
    else:
        pad = np.concatenate([(3 * v[0] - 3 * v[1] + v[2])[None], v,
                              (3 * v[-1] - 3 * v[-2] + v[-3])[None]])
        s2, s3 = s * s, s * s * s
        w = ((-s3 + 2 * s2 - s) / 2, (3 * s3 - 5 * s2 + 2) / 2,
             (-3 * s3 + 4 * s2 + s) / 2, (s3 - s2) / 2)
        out = sum(wk * pad[i + k] for k, wk in enumerate(w))  # pad[i + 1] is v[i]
    return np.moveaxis(out, 0, axis)
