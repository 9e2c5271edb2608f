"""Setup: what was run, on what, under which budget and cost model."""

from __future__ import annotations

from optbench import register_section
from optbench.metrics import REL_TARGETS, target_key
from optbench.report import Section, esc, note_html, prose, table_html
from optbench.stats.curves import ECDF_DECADES, TABLE_TARGETS


def _num(v) -> str:
    if v is None:
        return "—"
    try:
        return f"{float(v):.6g}"
    except (TypeError, ValueError):
        return str(v)


def _domain(domain) -> str:
    if not domain:
        return "—"
    lo, hi = domain
    if len(lo) > 3:
        return f"[{_num(min(lo))}, {_num(max(hi))}]^{len(lo)} (box)"
    return " × ".join(f"[{_num(a)}, {_num(b)}]" for a, b in zip(lo, hi, strict=True))


def _sessions(ctx):
    """One row per session that wrote to the store(s): when, the command, the host."""
    import datetime as dt

    import pandas as pd

    several = len(ctx.sources) > 1
    rows = []
    for s in ctx.sessions:
        try:  # a number of seconds; anything else (a damaged row) shows as not recorded
            when = dt.datetime.fromtimestamp(float(s["started"])).strftime("%Y-%m-%d %H:%M")
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            when = "—"
        row = {"source": s.get("source") or ""} if several else {}
        row.update(started=when, command=s.get("command") or "", host=s.get("host") or "—")
        rows.append(row)
    return pd.DataFrame(rows)


def _environments(ctx):
    """One row per fact (versions, platform, CPU, BLAS, threads, plug-ins), one column per
    distinct environment: a source's name, with its sessions' numbers where they differ."""
    import pandas as pd

    from optbench.environment import by_source, facts

    columns: dict[str, dict[str, str]] = {}
    for source, envs in by_source(ctx.sessions).items():
        distinct: list[tuple[dict[str, str], list[int]]] = []
        for i, env in enumerate(envs, 1):
            f = facts(env)
            for seen, numbers in distinct:
                if seen == f:
                    numbers.append(i)
                    break
            else:
                distinct.append((f, [i]))
        for f, numbers in distinct:
            name = source if len(ctx.sources) > 1 else "value"
            if len(distinct) > 1:
                name += f" (session{'s' * (len(numbers) > 1)} {', '.join(map(str, numbers))})"
            columns[name] = f
    keys = list(dict.fromkeys(k for f in columns.values() for k in f))
    return pd.DataFrame(
        {"recorded": keys, **{n: [f.get(k, "—") for k in keys] for n, f in columns.items()}}
    )


def _problems(ctx):
    import pandas as pd

    rows = []
    for key in ctx.problem_keys:
        info = ctx.problems.get(key, {})
        n = int((ctx.runs.problem_key == key).sum())
        known = info.get("f_star") is not None
        rows.append(
            {
                "problem": ctx.problem_title(key),
                "dim": info.get("dim"),
                "domain": _domain(info.get("domain")),
                "f*": _num(info.get("f_star")) if known else "unknown",
                "x*": "; ".join(
                    ", ".join(_num(v) for v in row) for row in (info.get("x_star") or [])[:4]
                )
                or "—",
                "L": _num(info.get("L")),
                "mu": _num(info.get("mu")),
                "runs": n,
                "description": info.get("description") or "",
            }
        )
    return pd.DataFrame(rows)


def _optimizers(ctx):
    """The optimizers as recorded with their runs (a store written before they were
    recorded shows "not recorded"): never the registry of the process rendering."""
    import pandas as pd

    runs = ctx.runs
    hp_cols = [c for c in runs.columns if c.startswith("hp.")]
    rows = []
    for label, g in runs.groupby("label", sort=False):
        name = g.optimizer.iloc[0]
        info = ctx.components.get(("optimizer", name))
        if info is None:
            desc, origin, needs, batch = "", "not recorded", "—", "—"
        else:
            desc, origin = info.get("description", ""), info.get("origin", "—")
            needs = ", ".join(info.get("needs") or ()) or "nothing"
            batch = info.get("batchable")
            batch = {True: "yes", False: "no"}.get(batch, str(batch or "—"))
        values = []
        for c in hp_cols:
            vals = [v for v in dict.fromkeys(g[c].tolist()) if v == v and v is not None]
            if vals:
                shown = " | ".join(_num(v) if isinstance(v, float) else str(v) for v in vals[:4])
                values.append(f"{c[3:]}={shown}" + (" | …" if len(vals) > 4 else ""))
        rows.append(
            {
                "optimizer": label,
                "name": name,
                "hyperparameters (resolved)": "; ".join(values) or "—",
                "needs": needs,
                "batched": batch,
                "source": origin,
                "description": desc,
                "runs": len(g),
            }
        )
    return pd.DataFrame(rows)


def _definitions(frame, key: str) -> str:
    """Descriptions below their table (as a column they squeeze the table on a laptop)."""
    items = [
        f"<dt>{esc(name)}</dt><dd>{prose(desc)}</dd>"
        for name, desc in zip(frame[key], frame["description"], strict=True)
        if desc
    ]
    return f"<dl class='defs'>{''.join(items)}</dl>" if items else ""


def _config_link(ctx) -> str:
    import base64
    import json

    config = {
        "stores": [str(p) for p in ctx.dbs],
        "sessions": ctx.sessions,
        "problems": ctx.problems,
        "tuning": ctx.tuning,
    }
    data = base64.b64encode(json.dumps(config, indent=1, default=str).encode()).decode()
    return (
        "<p class='caption'>The full configuration (sessions with their specs and versions, "
        "problem facts, tuning record) as JSON: <a download='optbench-config.json' "
        f"href='data:application/json;base64,{data}'>optbench-config.json</a>.</p>"
    )


def _environment_html(ctx) -> str:
    from optbench.environment import difference_note

    sessions = _sessions(ctx)
    if not len(sessions):
        return note_html("The store records no session (it was not written by optbench run).")
    envs = _environments(ctx)
    values = envs.drop(columns="recorded")
    differ = {  # the facts that are not the same in every column
        (i, c) for i, row in enumerate(values.itertuples(index=False, name=None))
        if len(set(row)) > 1 for c in values.columns
    }
    note = difference_note(ctx.sessions) if len(ctx.sources) > 1 else None
    return (
        (note_html(note[0].upper() + note[1:] + ".").replace("class='note'",
                                                            "class='note warning'", 1)
         if note else "")
        + table_html(
            envs,
            "The environment the runs ran in: the versions of Python, optbench, its "
            "libraries and the extras the runs used; the platform; the CPU model and its "
            "logical cores (those the command could use, where fewer); the BLAS libraries "
            "loaded, and the thread variables the runs' worker processes ran with (optbench "
            "sets 1 where the user did not); each plug-in's package and version, or its file's "
            "sha256. Bold: a fact that differs between the columns; '—': absent from that "
            "session (a store written by an older optbench holds its versions only).",
            "environment.csv",
            bold=differ,
            sortable=False,
        )
        + table_html(
            sessions,
            "Each session that wrote to the store(s): when, the command line and the host "
            "(empty when run with --anonymous).",
            "sessions.csv",
        )
    )


@register_section("setup", order=5)
def setup(ctx) -> Section | None:
    """Experiment definition."""
    from optbench.stats import CONVENTION

    runs = ctx.runs
    if not len(runs):
        return None
    n_pairs = runs.groupby(["problem_key", "label"]).ngroups
    per = runs.groupby(["problem_key", "label"]).size()
    budgets = sorted({int(b) for b in runs.budget.dropna()}) if "budget" in runs else []
    problems, optimizers = _problems(ctx), _optimizers(ctx)
    parts = [
        "<h3 id='setup-env'>Environment</h3>",
        _environment_html(ctx),
        "<h3 id='setup-problems'>Problems</h3>",
        table_html(
            problems.drop(columns="description"),
            (
                f"{len(ctx.problem_keys)} problems: dimension, the box domain (start points are "
                "drawn in it unless the problem has its own start distribution), the minimum f* "
                "and minimisers x* where known ('unknown': targets become Moré–Wild relative "
                "ones), the curvature constants L and mu, and the runs on each."
            ),
            "problems.csv",
            csv=problems,
        ),
        _definitions(problems, "problem"),
        "<h3 id='setup-optimizers'>Optimizers</h3>",
        table_html(
            optimizers.drop(columns="description"),
            (
                f"{runs.label.nunique()} optimizer settings as written (k/L is k times the "
                "problem's 1/L) with every hyperparameter as resolved per problem (schedules "
                "included), what each needs from a problem, whether it steps runs as one "
                "vectorized batch, and where it comes from."
            ),
            "optimizers.csv",
            csv=optimizers,
        ),
        _definitions(optimizers.drop_duplicates("name"), "name"),  # once per optimizer
        "<h3 id='setup-budget'>Budget, cost model, runs</h3>",
        "<p>Budget per run: " + esc(", ".join(map(str, budgets)) or "none") + " evaluations. "
        "<b>Cost model:</b> evaluations = n_f + n_g — one function value and one gradient each "
        "count as one evaluation, line-search trials included; both counters are stored and "
        "exported. Every cost axis in this report is this sum. The runner's own recording of each "
        "iterate is not charged. Start points depend on (problem, seed) alone, so optimizers "
        "with the same seeds start from the same points (paired comparisons).</p>",
        f"<p>{len(runs)} runs in {n_pairs} (problem, optimizer) pairings, "
        + (
            f"{int(per.min())} runs each."
            if per.min() == per.max()
            else f"{int(per.min())}–{int(per.max())} runs each."
        )
        + " No run is dropped; each pairing's seeds, budget and statuses are in the "
        "<a href='#summary'>Summary</a>. "
        + esc(CONVENTION)
        + "</p>",
        "<h3 id='setup-targets'>Targets</h3>",
        "<p>Where f* is known, targets are absolute precisions Δf = f − f* on the best-so-far "
        f"value: the tables use {', '.join(target_key(t) for t in TABLE_TARGETS)}, the runtime "
        f"ECDFs COCO's 51 targets 10^{ECDF_DECADES[0]:g} … 10^{ECDF_DECADES[1]:g}. Where f* is "
        "unknown, f_best (the best value any run found) stands in for it and targets are the "
        "Moré–Wild relative test f − f_best ≤ τ·(f(x₀) − f_best), τ ∈ "
        f"{{{', '.join(target_key(t) for t in REL_TARGETS)}}}. Performance and data profiles "
        "always use the Moré–Wild test.</p>",
        _config_link(ctx),
    ]
    toc = [
        ("setup-problems", "Problems"),
        ("setup-optimizers", "Optimizers"),
        ("setup-budget", "Budget & runs"),
        ("setup-targets", "Targets"),
    ]
    return Section("Setup", "".join(parts), toc=toc)
