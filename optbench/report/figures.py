"""Per-problem figures: convergence (best-so-far, raw gap, distance) and trajectories on the
loss landscape."""

from __future__ import annotations

from ..stats.curves import SAMPLE_RUNS, ProblemData

MAX_LABELS = 10  # lines per convergence figure; the tables show every label
MAX_PANELS = 4  # trajectory panels per problem (each axes costs ~60 ms to draw)
RAW_RUNS = SAMPLE_RUNS  # raw (non-monotone) runs per label in the second and third panels
GRID_POINTS = 160
SIGNED_STEPS = 40  # iterations shown in the 1-D signed-error panel (a step response)
FAINT_RUNS = 20  # individual runs drawn faint per optimizer
STYLES = ("-", "--", ":", "-.")  # members of a group of identical curves, where they differ
STYLE_NAMES = ("solid", "dashed", "dotted", "dash-dotted")
MARKERS = ("o", "s", "^", "D")


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


def _cost_grid(data: ProblemData):
    import numpy as np

    top = int(np.nanmax(data.cost, initial=1.0)) if data.cost.size else 1
    return np.unique(np.round(np.geomspace(1, max(top, 1), GRID_POINTS)).astype(np.int64))


def convergence_figure(data: ProblemData, labels: list[str]):
    """Three panels: best gap vs evaluations (median, IQR, faint runs); raw gap vs iteration;
    signed error in units of the initial error (1-D) or distance to x* vs iteration. Given a
    :class:`~optbench.report.timing.TimeData` the first panel's axis is the batch clock.

    Returns ``(fig, n_runs, notes)``.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from .html import plain

    x_star = data.info.get("x_star")
    raw = {lab: data.samples(lab, RAW_RUNS) for lab in labels}
    has_x = x_star is not None and any("x" in tr for s in raw.values() for _, tr in s)
    ncols = 3 if has_x else 2
    rows = -(-len(labels) // 3)
    fig, axes = plt.subplots(1, ncols, figsize=(4.3 * ncols, 3.3 + 0.17 * rows))
    layout(fig, bottom=0.5 + 0.17 * rows + 0.1, wspace=0.34)
    from .timing import TimeData

    timed = isinstance(data, TimeData)
    grid = data.grid(GRID_POINTS) if isinstance(data, TimeData) else _cost_grid(data)
    x_lo = grid[0] if timed else 1  # the left end of a log axis (costs count from 1)
    floor = data.floor
    n_runs, notes, handles = 0, [], []
    faint, faint_colors = [], []
    t_max = 0
    quantiles = {}
    for lab in labels:
        sub = data.select((data.runs.label == lab).to_numpy())
        curves = sub.best_at(grid)
        curves = curves[~np.isnan(curves).all(axis=1)]
        if not len(curves):
            continue
        c = np.clip(curves, floor, 1e300)
        # rows with a trace have no gaps (a finished run keeps its last value), so the plain
        # percentile applies; numpy's nan-aware one loops in Python, column by column
        quantiles[lab] = (sub, len(curves), np.percentile(c, [25, 50, 75], axis=0))
    groups = identical_groups({lab: q for lab, (_, _, q) in quantiles.items()})
    colors = palette(len(groups))
    medians: list = []
    for color, members in zip(colors, groups, strict=True):
        lead = members[0]
        sub, n_lead, (q1, med, q3) = quantiles[lead]
        counts = [quantiles[m][1] for m in members]
        n_runs += sum(counts)
        ax = axes[0]
        name = " = ".join(members)
        n_text = f"n={counts[0]}" + (" each" if len(members) > 1 else "")
        if len(set(counts)) > 1:
            n_text = "n=" + "/".join(str(k) for k in counts)
        # a median curve that would hide under an earlier one gets its own dashes
        close = sum(same_curve(med, m, CLOSE_DECADES) for m in medians)
        medians.append(med)
        (h,) = ax.plot(grid, med, color=color, lw=1.8, ls=STYLES[close % len(STYLES)],
                       label=plain(f"{name} ({n_text})"))
        handles.append(h)
        ax.fill_between(grid, q1, q3, color=color, alpha=0.18, lw=0)
        if len(members) > 1:
            notes.append(
                f"{' and '.join(members)} have best-so-far curves within 1 % of each other: "
                "one line and one "
                "legend entry name them all; where they differ (the right panel) they are "
                f"drawn {', '.join(STYLE_NAMES[: len(members)])} in that order."
            )
        order = np.argsort(sub.runs.seed.to_numpy(), kind="stable")
        for i in [i for i in order if sub.length[i] > 0][:FAINT_RUNS]:
            cst, best = sub.curve(i)
            # a post-step curve as explicit vertices, so all faint runs are one artist
            xs = np.repeat(np.maximum(cst, x_lo), 2)[1:]
            ys = np.repeat(np.clip(best, floor, 1e300), 2)[:-1]
            faint.append(np.column_stack([xs, ys]))
            faint_colors.append(color)
        drawn_gaps: list[np.ndarray] = []
        for j, lab in enumerate(members):
            style = dict(ls=STYLES[j % len(STYLES)], marker=MARKERS[j % len(MARKERS)])
            for _, tr in raw[lab]:
                t = np.asarray(tr.get("t", np.arange(len(tr["f"]))))  # stored thinned if long
                t_max = max(t_max, len(t))
                with np.errstate(invalid="ignore", over="ignore"):
                    gap = np.clip(np.abs(tr["f"] - data.f_ref), floor, 1e300)
                if not any(same_curve(gap, g) for g in drawn_gaps):  # each curve once
                    drawn_gaps.append(gap)
                    axes[1].plot(t + 1, gap, color=color, lw=0.8, alpha=0.8, ls=style["ls"],
                                 rasterized=len(t) > 400)
                if not (has_x and "x" in tr):
                    continue
                xs = tr["x"].reshape(len(t), -1)
                stars = np.asarray(x_star, dtype=float).reshape(-1, xs.shape[1])
                fin = np.all(np.isfinite(xs), axis=1)
                last = xs[fin][-1] if fin.any() else xs[0]
                ref = stars[np.argmin(np.linalg.norm(stars - last, axis=1))]
                if xs.shape[1] == 1:
                    e0 = abs(xs[0, 0] - ref[0]) or 1.0
                    n = int(np.searchsorted(t, SIGNED_STEPS, side="right"))
                    axes[2].plot(t[:n], (xs[:n, 0] - ref[0]) / e0, color=color, lw=0.9,
                                 alpha=0.8, ms=2.2 if j else 1.8, **style)
                else:
                    dist = np.linalg.norm(xs - ref, axis=1)
                    axes[2].plot(t + 1, np.clip(dist, 1e-16, 1e300), color=color, lw=0.8,
                                 alpha=0.8, ls=style["ls"], rasterized=len(t) > 400)
    ref = "f*" if data.known else "best found"
    ax = axes[0]
    if faint:  # one rasterized collection: each rasterized artist costs a renderer switch
        from matplotlib.collections import LineCollection

        ax.add_collection(
            LineCollection(
                faint, colors=faint_colors, linewidths=0.5, alpha=0.25, rasterized=True, zorder=1
            ),
            autolim=False,
        )
    log_axes(ax)
    ax.set(
        xlabel=TimeData.axis_label if timed else "evaluations (n_f + n_g)",
        ylabel=f"best-so-far f − {ref}",
        title="best so far: median, IQR, runs",
    )
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7.5, frameon=False)
    log_axes(axes[1])
    axes[1].set(
        xlabel="iteration t + 1", ylabel=f"|f(x_t) − {ref}|", title="raw gap (non-monotone)"
    )
    if has_x:
        if data.dim == 1:
            axes[2].axhline(0, color="k", lw=0.6)
            axes[2].set_ylim(-1.6, 1.6)
            axes[2].set(
                xlabel="iteration t",
                ylabel="(x_t − x*) / |x₀ − x*|",
                title="signed error: below 0 = overshoot",
            )
        else:
            log_axes(axes[2])
            axes[2].set(xlabel="iteration t + 1", ylabel="‖x_t − x*‖", title="distance to x*")
    else:
        notes.append("No distance panel: x is stored for dimension ≤ 3 and needs a known x*.")
    for a in axes:
        a.grid(True, which="major", alpha=0.3)
        if not a.lines and not a.collections:
            empty_panel(a, "nothing to draw here: no run of these optimizers stored this curve")
    return fig, n_runs, notes


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


def _window(info: dict, paths: list):
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
    on ``n`` points per axis over the box ``[lo, hi]`` inside it: linear in 1-D, a cubic
    interpolating spline in 2-D (linear where the grid holds non-finite values). Where the
    box is the stored window, the points are grid points and the values the stored ones.
    Returns ``(xs, fs)`` in 1-D, ``(X1, X2, F)`` in 2-D, as :meth:`Problem.landscape`."""
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
    if np.all(np.isfinite(f)):
        from scipy.interpolate import RectBivariateSpline

        F = RectBivariateSpline(axes[1], axes[0], f)(pts[1], pts[0])
    else:
        from scipy.interpolate import RegularGridInterpolator

        F = RegularGridInterpolator((axes[1], axes[0]), f)(np.stack([X2, X1], axis=-1))
    return X1, X2, F


def landscape_figure(data: ProblemData, labels: list[str]):
    """Small multiples: the first sampled run of each label on the loss curve (1-D) or the
    contour plot (2-D), drawn from the landscape stored with the problem. Returns
    ``(fig, shown_labels)`` or ``(None, reason)``."""
    import textwrap

    import matplotlib.pyplot as plt
    import numpy as np

    from .html import plain

    info = data.info
    d = int(info.get("dim") or 0)
    if d not in (1, 2):
        return None, f"trajectories are drawn for 1-D and 2-D problems; this one has dimension {d}"
    grid = data.landscape
    if grid is None:
        return None, (
            "no landscape stored with this problem (its f failed on the grid when it ran, "
            "or the store was written before optbench stored landscapes)"
        )
    chosen = []
    for lab in labels:
        for row, tr in data.samples(lab, 1):
            if "x" in tr:
                chosen.append((lab, tr, row.seed))
        if len(chosen) >= MAX_PANELS:
            break
    if not chosen:
        return None, "no stored trajectory (x) to draw"
    paths = [tr["x"].reshape(len(tr["f"]), d) for _, tr, _ in chosen]
    log = bool((info.get("draw") or {}).get("log", d == 2))
    n = len(chosen)
    ncols = min(n, 4)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
    layout(fig, top=0.5, wspace=0.38, hspace=0.7)
    x_star = (
        None
        if info.get("x_star") is None
        else np.asarray(info["x_star"], dtype=float).reshape(-1, d)
    )
    for k, (ax, (lab, tr, seed)) in enumerate(zip(axes.ravel(), chosen, strict=False)):
        path = paths[k]
        iters = np.asarray(tr.get("t", np.arange(len(path))))
        fin_rows = np.all(np.isfinite(path), axis=1)
        path, iters = path[fin_rows], iters[fin_rows]
        fp = np.asarray(tr["f"], dtype=float)[fin_rows]  # f at the path, as recorded
        lo, hi = _window(info, [path])  # each panel zooms on its own path
        t = np.arange(len(path))
        if d == 1:
            xs, fs = zoom(grid, lo, hi, 300)
            ax.plot(xs, fs, color="#888", lw=1.2, zorder=1)
            ax.plot(path[:, 0], fp, color="#0173b2", lw=0.6, alpha=0.7, zorder=2)
            ax.scatter(path[:, 0], fp, c=t, cmap="viridis", s=12, zorder=3, rasterized=len(t) > 300)
            lo_f, hi_f = float(np.nanmin(fs)), float(np.nanmax(fs))
            ax.set(
                xlim=(lo[0], hi[0]),
                ylim=(lo_f - 0.05 * (hi_f - lo_f), hi_f + 0.05 * (hi_f - lo_f)),
                xlabel="x",
                ylabel="f(x)",
            )
            if x_star is not None and "f_x_star" in grid:
                ax.scatter(
                    x_star[:, 0], grid["f_x_star"], marker="*", s=90, color="#d55e00", zorder=4
                )
        else:
            from matplotlib.colors import LogNorm

            gx, gy, fz = zoom(grid, lo, hi, 100)
            fmin = (
                float(np.nanmin(fz))
                if data.f_ref is None
                else min(float(np.nanmin(fz)), data.f_ref)
            )
            z = fz - fmin
            pos = z[z > 0]
            if log and len(pos):
                levels = np.geomspace(max(pos.min(), 1e-9 * pos.max()), pos.max(), 14)
                ax.contour(
                    gx,
                    gy,
                    np.maximum(z, levels[0]),
                    levels=levels,
                    cmap="Greys",
                    linewidths=0.7,
                    norm=LogNorm(),
                    zorder=1,
                )
            else:
                ax.contour(gx, gy, z, levels=14, cmap="Greys", linewidths=0.7, zorder=1)
            ax.plot(path[:, 0], path[:, 1], color="#0173b2", lw=0.7, alpha=0.8, zorder=2)
            ax.scatter(
                path[:, 0], path[:, 1], c=t, cmap="viridis", s=10, zorder=3, rasterized=len(t) > 300
            )
            named = (info.get("draw") or {}).get("axes")
            names = named or ("x₁", "x₂")
            ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), xlabel=names[0], ylabel=names[1])
            if not named:  # x₁ and x₂ share their unit: a circle stays a circle
                ax.set_aspect("equal", adjustable="box")
            if x_star is not None:
                ax.scatter(x_star[:, 0], x_star[:, 1], marker="*", s=90, color="#d55e00", zorder=4)
        if len(path):
            ax.scatter(
                path[:1, 0],
                (fp[:1] if d == 1 else path[:1, 1]),
                marker="o",
                s=40,
                facecolors="none",
                edgecolors="k",
                zorder=5,
            )
        steps = int(iters[-1]) if len(iters) else 0
        # wrapped to the panel's width, so neighbouring titles never run into each other
        # (lifted clear of the top tick label, which reaches above the axes)
        ax.set_title(textwrap.fill(plain(f"{lab}, seed {seed} ({steps} steps)"), 40),
                     fontsize=8.5, pad=10)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, [c[0] for c in chosen]
