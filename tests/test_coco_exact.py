"""The COCO export's first hits are exact for runs whose stored trace is thinned: every
``.dat`` row (a first hit of a target level 10^(k/5)) equals a direct, unthinned gradient
descent loop, and the worker's ``hit_cost`` metrics agree with the ``.dat`` file."""

from __future__ import annotations

import math

import numpy as np

import optbench
from optbench.export import export
from optbench.store import THIN_ABOVE

H, C, LR = 2.0, 1.5, 0.005  # quadratic-1d: ½·h·(x − c)²


def _dat_rows(path):
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("%"):
            continue
        parts = line.split()
        rows.append((int(parts[0]), float(parts[2])))
    return rows


def _direct_first_hits(x0: float, n_updates: int):
    """COCO's target-triggered rows from a direct loop: (evaluations, Δf) at each iterate
    where the best Δf first enters a lower level ⌊5·log10 Δf⌋; gd spends one gradient per
    update, so iterate t costs t evaluations (COCO counts from 1)."""
    x, best, level, rows = x0, math.inf, math.inf, []
    for t in range(n_updates + 1):
        gap = 0.5 * H * (x - C) ** 2
        best = min(best, gap)
        lv = math.floor(math.log10(max(best, 1e-300)) * 5)
        if t > 0 and lv < level:
            rows.append((max(t, 1), best))
        level = lv
        x = x - LR * H * (x - C)
    return rows


def test_coco_first_hits_equal_an_unthinned_loop(tmp_path):
    budget = 2000
    res = optbench.run(problems=["quadratic-1d"], optimizers=[f"gd[lr={LR}]"], seeds=1,
                       budget=budget, out=tmp_path / "r", report=False)
    run = res.runs.iloc[0]
    n_iter = int(run["n_iter"])
    assert n_iter + 1 > THIN_ABOVE  # the stored trace is thinned
    trace = optbench.load_trace(tmp_path / "r", run["run_id"])
    assert len(trace["f"]) < n_iter + 1
    x0 = float(np.asarray(trace["x"]).reshape(len(trace["f"]), -1)[0, 0])
    direct = _direct_first_hits(x0, n_iter)
    assert len(direct) > 30
    export(tmp_path / "r", "coco", tmp_path / "coco")
    (dat,) = (tmp_path / "coco").rglob("*.dat")
    rows = _dat_rows(dat)
    got = rows[1:-1]  # the start and the final state around the target-triggered rows
    assert [e for e, _ in got] == [e for e, _ in direct]
    np.testing.assert_allclose([d for _, d in got], [d for _, d in direct], rtol=1e-8)
    # and the stored metric (from the full trace) is the .dat's first hit of 1e-6
    first = next(e for e, d in rows if d <= 1e-6)
    assert first == int(run["hit_cost_1e-6"])


def test_a_second_export_in_one_process_is_read_against_its_own_testbed(tmp_path):
    """cocopp keeps the testbed it built for the first data it read: registering a second
    export (other instances: more seeds) must make cocopp read that export as itself."""
    pytest = __import__("pytest")
    pytest.importorskip("cocopp", reason="the cocopp extra is not installed")
    import warnings

    from cocopp import pproc

    from optbench.coco import register_testbed

    erts = {}
    for seeds in (2, 3):
        res = optbench.run(problems=["quadratic-1d"], optimizers=["gd[lr=0.05/L]"], seeds=seeds,
                           budget=200, out=tmp_path / f"r{seeds}", report=False)
        export(res.db, "coco", tmp_path / f"coco{seeds}")
        register_testbed(tmp_path / f"coco{seeds}")
        (folder,) = [p for p in (tmp_path / f"coco{seeds}").iterdir() if p.is_dir()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fewer than 15 instances
            (ds,) = pproc.DataSetList(str(folder))
        frame = optbench.load(res.db)
        # every run reaches 1e-3, so the aRT is the mean of the stored hitting costs
        assert (frame["hit_cost_1e-3"] < float("inf")).all() and len(frame) == seeds
        erts[seeds] = (ds.detERT([1e-3])[0], frame["hit_cost_1e-3"].mean())
    for seeds, (theirs, ours) in erts.items():
        assert theirs == pytest.approx(ours, rel=1e-12), seeds
