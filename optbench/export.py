"""Export a store: tidy CSV, Parquet, COCO's logging format (post-processed by cocopp), or
a bundle (one zip file that every command reads as a store: :mod:`optbench.bundle`).

* ``csv`` / ``parquet``: ``runs`` (one row per run, the columns of :func:`optbench.load`)
  and ``traces`` in long form (one row per run and stored iterate: ``run_id, t, n_f, n_g,
  evals, f, gap, gnorm, lr, time, x0…``; ``lr`` is the rate of the update leaving iterate t).
* ``coco``: one folder per optimizer (its label as the algorithm id), one function id per
  problem, in COCO's ``bbob-new2`` layout (as ``cocopp`` reads it): ``.info``
  index files, target-triggered ``.dat`` and evaluation-triggered ``.tdat`` data files.
  COCO's *evaluations* column is optbench's cost axis, evaluations = n_f + n_g (or n_f or
  n_g alone with ``cost=``); each seed is a COCO instance (seed + 1); Δf is f − f*, or
  f − f_best (best value found in the store) where f* is unknown. Where f* is known, the
  ``.dat`` rows (first hits of the levels 10^(k/5)) are exact however the stored trace was
  thinned: the worker keeps those iterates; where it is unknown they come from the stored
  trace, late by up to its spacing for runs over 600 iterates. ``coco-map.json`` and
  ``README.txt`` in the destination say which counter, which problem each function id is,
  and which runs were left out (skipped runs have no trace). The ``.info`` headers name the
  suite ``optbench``: :mod:`optbench.coco` registers it with cocopp and post-processes it.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from .coco import BBOB_SUITE, SUITE
from .errors import UsageError

__all__ = ["COST_COUNTERS", "export", "trace_frame"]

COST_COUNTERS = {"evals": "n_f + n_g", "n_f": "n_f", "n_g": "n_g"}
COCO_EVAL_TRIGGERS = 20  # evaluation triggers per decade in .tdat
PARQUET_HINT = "parquet export needs pyarrow: pip install 'optbench[parquet]'"


def export(
    db_path: str | os.PathLike, fmt: str, dest: str | os.PathLike, cost: str = "evals"
) -> list[Path]:
    """Write the runs and traces of a store to ``dest`` in ``fmt`` (csv, parquet or coco),
    or the store as the bundle ``dest`` (``bundle``: :mod:`optbench.bundle`).

    Returns:
        The files written.
    """
    from .store import Store

    db = Path(db_path)
    if db.is_dir():
        db = db / "results.sqlite"
    Store(db).close()  # a clear error for a missing or foreign file
    if fmt == "bundle":  # one file: the store, its report, specs, environment and manifest
        from .bundle_writer import write_bundle

        return [write_bundle(db, dest)]
    if cost not in COST_COUNTERS:
        raise UsageError(f"cost must be one of {sorted(COST_COUNTERS)}, got {cost!r}")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError(PARQUET_HINT) from None
    out = Path(dest)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the export folder {str(out)!r}: {exc.strerror or exc}"
        ) from None
    if fmt in ("csv", "parquet"):
        return _tidy(db, fmt, out)
    if fmt == "coco":
        return _coco(db, out, cost)
    raise UsageError(f"format must be csv, parquet, coco or bundle, got {fmt!r}")


def _runs_frame(db: Path):
    from .plan import read_labelled_runs

    runs = read_labelled_runs(db)
    if "x_final" in runs:  # a list per run: JSON text keeps CSV and Parquet columns flat
        runs["x_final"] = runs["x_final"].map(lambda v: None if v is None else json.dumps(v))
    for col in runs.columns:
        if runs[col].dtype == object:  # mixed hyperparameter types (numbers, schedule strings)
            runs[col] = runs[col].map(
                lambda v: v if v is None or isinstance(v, str) else json.dumps(v)
            )
    return runs


def _f_refs(db: Path, runs) -> dict[str, tuple[float | None, bool]]:
    from .store import Store

    with Store(db) as s:
        infos = s.problem_info()
    out: dict[str, tuple[float | None, bool]] = {}
    for key in dict.fromkeys(runs.problem_key):
        f_star = infos.get(key, {}).get("f_star")
        if f_star is not None:
            out[key] = (float(f_star), True)
        else:
            best = runs.loc[runs.problem_key == key, "f_best"].astype(float)
            best = best[best.map(math.isfinite)]
            out[key] = (float(best.min()) if len(best) else None, False)
    return out


def _trace_rows(db: Path, run_ids):
    """Yield ``(run_id, trace)`` for the runs that have a trace."""
    from .store import Store

    with Store(db) as s:
        for rid, trace in s.traces(run_ids):
            if trace is not None:
                yield rid, trace


def trace_frame(trace: dict[str, Any]):
    """One run's trace as a tidy frame, one row per stored iterate: ``t, n_f, n_g, evals, f,
    gnorm, lr, time[, test_f, test_acc], x0…``. ``lr`` is the rate of the update leaving
    iterate t (NaN after the last one); ``x0…`` are there where the trace keeps x."""
    import numpy as np
    import pandas as pd

    n = len(trace["f"])
    lr = np.full(n, np.nan)
    lr[: len(trace["lr"])] = trace["lr"][:n]
    cols = {
        "t": trace.get("t", np.arange(n)),
        "n_f": trace["n_f"],
        "n_g": trace["n_g"],
        "evals": trace["n_f"] + trace["n_g"],
        "f": trace["f"],
        "gnorm": trace["gnorm"],
        "lr": lr,
        "time": trace["time"][:n],
    }
    for k in ("test_f", "test_acc"):  # the held-out loss and accuracy of problems with them
        if k in trace:
            cols[k] = trace[k]
    if "x" in trace:
        x = trace["x"].reshape(n, -1)
        cols.update({f"x{j}": x[:, j] for j in range(x.shape[1])})
    return pd.DataFrame(cols)


def _shortest(value: float) -> str:
    """The shortest text that reads back as the same float (pandas 2 writes 16 digits)."""
    return repr(float(value))


def _tidy(db: Path, fmt: str, out: Path) -> list[Path]:
    import numpy as np
    import pandas as pd

    runs = _runs_frame(db)
    refs = _f_refs(db, runs)
    key_of = dict(zip(runs.run_id, runs.problem_key, strict=True))
    frames = []
    for rid, tr in _trace_rows(db, runs.run_id):
        f_ref = refs[key_of[rid]][0]
        frame = trace_frame(tr)
        frame.insert(0, "run_id", rid)
        frame.insert(6, "gap", frame.f - f_ref if f_ref is not None else np.nan)
        frames.append(frame)
    traces = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(
            columns=["run_id", "t", "n_f", "n_g", "evals", "f", "gap", "gnorm", "lr", "time"]
        )
    )
    if fmt == "csv":
        paths = [out / "runs.csv", out / "traces.csv"]
        runs.to_csv(paths[0], index=False, float_format=_shortest)
        traces.to_csv(paths[1], index=False, float_format=_shortest)
    else:
        paths = [out / "runs.parquet", out / "traces.parquet"]
        runs.to_parquet(paths[0], index=False)
        traces.to_parquet(paths[1], index=False)
    return paths


# -- COCO -------------------------------------------------------------------------------------


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_") or "optimizer"


def _coco_lines(cost, f, f_ref: float, x, used: float):
    """The .dat (target-triggered) and .tdat (evaluation-triggered) lines of one run."""
    import numpy as np

    from .metrics.convergence import coco_crossings

    evals = np.maximum(cost.astype(float), 1.0)  # COCO numbers the first evaluation 1
    best_df, crossings = coco_crossings(f, f_ref)
    best_f = np.minimum.accumulate(np.where(np.isfinite(f), f, np.inf))
    final = max(float(evals[-1]), used, 1.0)

    def line(i: int, e: float) -> str:
        xs = "" if x is None else " " + " ".join(f"{v:+.4e}" for v in x[i])
        return f"{int(e)} 0 {best_df[i]:+.9e} {f[i]:+.9e} {best_f[i]:+.9e}{xs}"

    # a row each time the best Δf crosses a new level 10^(k/5): runtimes for every target
    # (exact: with f* known the stored trace keeps these iterates, however thinned)
    dat = [line(0, evals[0]), *(line(i, evals[i]) for i in crossings)]
    tdat = []
    last = -1
    for i, e in enumerate(evals):
        trig = math.floor(math.log10(e) * COCO_EVAL_TRIGGERS) if e >= 1 else -1
        if trig > last or i == 0:
            tdat.append(line(i, e))
            last = trig
    tdat.append(line(len(f) - 1, final))  # the final state carries the evaluations used
    dat.append(line(len(f) - 1, final))
    return dat, tdat, final, float(best_df[-1])


def _coco_identity(info: dict[str, Any]) -> dict[str, Any] | None:
    """A problem's place in COCO's bbob suite (function, dimension, instance), where it
    declares one (:attr:`optbench.problem.Problem.coco`)."""
    coco = info.get("coco")
    return coco if isinstance(coco, dict) and coco.get("suite") == BBOB_SUITE else None


def _coco(db: Path, out: Path, cost: str) -> list[Path]:
    from .store import Store

    runs = _runs_frame(db)
    refs = _f_refs(db, runs)
    with Store(db) as s:
        infos = s.problem_info()
    keys = list(dict.fromkeys(runs.problem_key))
    bbob = [k for k in keys if _coco_identity(infos.get(k, {})) is not None]
    own = [k for k in keys if k not in bbob]
    traces = dict(_trace_rows(db, runs.run_id))
    if not (bbob and own):  # one suite: the folder is the experiment
        return _coco_suite(runs, infos, refs, traces, keys, out, cost, bbob=bool(bbob))
    # both: each suite is an experiment of its own, in a subfolder (cocopp reads one suite)
    written = []
    for suite, part in ((BBOB_SUITE, bbob), (SUITE, own)):
        sub = runs[runs.problem_key.isin(part)]
        written += _coco_suite(sub, infos, refs, traces, part, out / suite, cost,
                               bbob=suite == BBOB_SUITE)
    p = out / "coco-map.json"
    p.write_text(json.dumps({"parts": [BBOB_SUITE, SUITE]}, indent=1))
    readme = out / "README.txt"
    readme.write_text(
        "optbench export in COCO's logging format: two experiments, one per suite.\n"
        f"{BBOB_SUITE}/: the runs on COCO's bbob functions, a bbob experiment "
        f"(python -m cocopp {out / BBOB_SUITE}/ALGORITHM ...).\n"
        f"{SUITE}/: the runs on optbench's own problems (optbench.coco.postprocess).\n"
    )
    return [*written, p, readme]


def _coco_suite(runs, infos, refs, traces, keys, out: Path, cost: str, bbob: bool) -> list[Path]:
    """One COCO experiment in ``out``: suite ``bbob`` (COCO's function ids, dimensions and
    instances, as the problems declare them) or ``optbench`` (one function id per problem,
    instance = seed + 1)."""
    import numpy as np

    from . import __version__

    out.mkdir(parents=True, exist_ok=True)
    suite = BBOB_SUITE if bbob else SUITE
    coco: dict[str, dict[str, Any]] = {
        k: _coco_identity(infos.get(k, {})) or {} for k in keys}
    fid = (
        {k: int(coco[k]["function"]) for k in keys}
        if bbob else {k: i + 1 for i, k in enumerate(keys)}
    )
    dim_of = {
        k: int(coco[k]["dimension"]) if bbob else int(infos.get(k, {}).get("dim") or 1)
        for k in keys
    }
    # an optimizer run with two gradients (central, forward differences) on one bbob
    # function is two algorithms, not repeated trials of one
    grads: dict[str, set] = {}
    for key, lab in zip(runs.problem_key, runs.label, strict=True):
        grads.setdefault(lab, set()).add(infos.get(key, {}).get("gradient"))

    def algorithm(lab: str, key: str) -> str:
        g = infos.get(key, {}).get("gradient")
        return f"{lab} ({g})" if bbob and len(grads[lab]) > 1 and g else lab

    algs = list(dict.fromkeys(
        algorithm(lab, key) for lab, key in zip(runs.label, runs.problem_key, strict=True)))
    folders: dict[str, str] = {}
    for alg in algs:
        name, n = _safe(alg), 2
        while name in folders.values():
            name, n = f"{_safe(alg)}_{n}", n + 1
        folders[alg] = name
    written: list[Path] = []
    left_out: list[dict[str, Any]] = []
    for folder in folders.values():  # index files are appended to below: start them afresh
        for old in (out / folder).glob("bbobexp_f*.info"):
            old.unlink()
    runs = runs.assign(_alg=[algorithm(lab, key) for lab, key in
                             zip(runs.label, runs.problem_key, strict=True)],
                       _fid=runs.problem_key.map(fid), _dim=runs.problem_key.map(dim_of))
    # one .info block and one pair of data files per algorithm, function id and dimension
    for (alg, f_id, dim), sub in runs.groupby(["_alg", "_fid", "_dim"], sort=True):
        sub_keys = [k for k in keys if k in set(sub.problem_key)]
        entries, dat_all, tdat_all = [], [], []
        for key in sub_keys:
            f_ref, known = refs[key]
            rows = sub[sub.problem_key == key].sort_values("seed")
            for _, r in rows.iterrows():
                tr = traces.get(r.run_id)
                if tr is None or f_ref is None or not len(tr["f"]):
                    left_out.append(
                        {
                            "run_id": r.run_id,
                            "optimizer": r.label,
                            "problem_key": key,
                            "status": r.status,
                            "why": "no trace (skipped or failed before its start)",
                        }
                    )
                    continue
                n = len(tr["f"])
                c = {"evals": tr["n_f"] + tr["n_g"], "n_f": tr["n_f"], "n_g": tr["n_g"]}[cost]
                used = float(r["n_f"] + r["n_g"]) if cost == "evals" else float(r[cost])
                x = tr["x"].reshape(n, -1) if "x" in tr else None
                dat, tdat, final, final_df = _coco_lines(
                    np.asarray(c), tr["f"], f_ref, x, used if math.isfinite(used) else 0.0
                )
                inst = int(coco[key]["instance"]) if bbob else int(r.seed) + 1
                head = (
                    "% f evaluations | g evaluations | best noise-free fitness - Fopt "
                    f"({f_ref:.12e}) + sum g_i+ | measured fitness | best measured fitness or "
                    f"single-digit g-values | x1 | x2... (instance = {inst}, optbench run_id = "
                    f"{r.run_id}, seed = {int(r.seed)}, status = {r.status})"
                )
                dat_all += [head, *dat]
                tdat_all += [head, *tdat]
                entries.append(f"{inst}:{int(final)}|{final_df:.1e}")
        if not entries:
            continue
        folder = folders[alg]
        data_dir = out / folder / f"data_f{f_id}"
        data_dir.mkdir(parents=True, exist_ok=True)
        stem = f"bbobexp_f{f_id}_DIM{dim}"
        for ext, lines in ((".dat", dat_all), (".tdat", tdat_all)):
            p = data_dir / (stem + ext)
            p.write_text("\n".join(lines) + "\n")
            written.append(p)
        info_path = out / folder / f"bbobexp_f{f_id}.info"
        header = (
            f"suite = '{suite}', funcId = {f_id}, DIM = {dim}, Precision = 1.000e-08, "
            "algId "
            f"= '{_quote(alg)}', coco_version = 'optbench-{__version__}', logger = 'bbob', "
            "data_format = 'bbob-new2'"
        )
        if bbob:
            comment = (
                f"% optbench export: COCO's bbob f{f_id} in {dim}-D, values by cocoex "
                f"(problems {', '.join(sub_keys)}); evaluations = {COST_COUNTERS[cost]}; "
                "Fopt = f*"
            )
        else:
            key = sub_keys[0]
            known = refs[key][1]
            comment = (
                f"% optbench export: problem {_comment(infos.get(key, {}).get('name', key))} "
                f"(key {key}); evaluations = {COST_COUNTERS[cost]}; "
                f"{'Fopt = f*' if known else 'Fopt = best value found (f* unknown)'}; "
                "instance = seed + 1"
            )
        data_line = f"data_f{f_id}/{stem}.dat, " + ", ".join(entries)
        with info_path.open("a") as fh:
            fh.write(f"{header}\n{comment}\n{data_line}\n")
        if info_path not in written:
            written.append(info_path)
    if bbob:
        functions: dict[str, Any] = {}
        for k in keys:
            entry = functions.setdefault(str(fid[k]), {"name": f"bbob f{fid[k]}", "dims": [],
                                                       "instances": [], "problem_keys": []})
            entry["dims"] = sorted({*entry["dims"], dim_of[k]})
            entry["instances"] = sorted({*entry["instances"], int(coco[k]["instance"])})
            entry["problem_keys"].append(k)
            entry["dim"] = entry["dims"][0]
        problems = {
            k: {**coco[k], "params": infos.get(k, {}).get("params"), "f_star": refs[k][0],
                "gradient": infos.get(k, {}).get("gradient")}
            for k in keys
        }
        instances = sorted({int(coco[k]["instance"]) for k in keys})
    else:
        functions = {
            str(fid[k]): {
                "problem_key": k,
                "name": infos.get(k, {}).get("name"),
                "params": infos.get(k, {}).get("params"),
                "dim": infos.get(k, {}).get("dim"),
                "f_ref": refs[k][0],
                "f_ref_is_f_star": refs[k][1],
            }
            for k in keys
        }
        problems = None
        instances = sorted({int(seed) + 1 for seed in runs.seed})
    mapping = {
        "cost_counter": cost,
        "evaluations_are": COST_COUNTERS[cost],
        "suite": suite,
        "data_format": "bbob-new2",
        "functions": functions,
        **({"problems": problems} if problems is not None else {}),
        "algorithms": {folders[a]: a for a in algs},
        "instances": instances,
        "left_out": left_out,
    }
    p = out / "coco-map.json"
    p.write_text(json.dumps(mapping, indent=1))
    written.append(p)
    readme = out / "README.txt"
    common = (
        "optbench export in COCO's logging format (bbob-new2)\n\nCOCO's 'f evaluations' column "
        f"holds optbench's {COST_COUNTERS[cost]} (cost={cost}); the 'g evaluations' column "
        "(COCO's constraint evaluations) is 0.\n"
    )
    if bbob:
        readme.write_text(
            common + "This is a bbob experiment: suite 'bbob', COCO's function ids, dimensions "
            "and instances, with every value computed by cocoex. One folder per optimizer "
            "(algId = the optimizer as written); every run of an instance is one trial of it "
            "(several seeds: repeated trials). Fopt = f*, so the first hits of the targets "
            "10^(k/5) are exact.\nFinite-difference gradients are charged in f evaluations "
            "(central: 2*dim per gradient), so the evaluations are COCO's.\n"
            "Post-process with COCO's own tool, offline:  python -m cocopp "
            + " ".join(folders[a] for a in algs)
            + "\n(or beside COCO's archived algorithms, online: python -m cocopp "
            "bbob/2009/BIPOP-CMA-ES " + folders[algs[0]] + ")\n"
        )
    else:
        readme.write_text(
            common + "One folder per optimizer (algId = the optimizer as written), one funcId "
            "per problem, instance = seed + 1. Fopt is f* where known, else the best value any "
            "run in the store found.\nWhere Fopt = f*, the first hits of the targets 10^(k/5) "
            "are exact; where f* is unknown they are read off the stored traces, thinned for "
            "runs over 600 iterates, so they can be late.\nThe function ids and problems are "
            "in coco-map.json, with the runs left out (no trace).\nThe suite is 'optbench' "
            "(these are not BBOB's functions): post-process it with "
            "`optbench export --format coco --postprocess` or "
            "optbench.coco.postprocess(FOLDER, OUTPUT), which register the suite with cocopp.\n"
        )
    written.append(readme)
    return written


def _quote(text: str) -> str:
    return str(text).replace("\\", "/").replace("'", "`").replace(",", ";")


def _comment(text: str) -> str:
    return str(text).replace("\n", " ")
