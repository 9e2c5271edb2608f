"""Bundles (``optbench export --format bundle``): one zip that every store reader opens
in place, read-only, after checking it against its manifest.

Truth: the store the bundle was made from (its frame, traces and CSV export must come back
equal), ``hashlib.sha256`` of the members, and a rerun of the bundled spec TOML, whose run
identities must be exactly the store's.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import fork_cli

SPEC = """\
problems = ["quadratic-1d", "rosenbrock"]
optimizers = ["gd[lr=[0.5/L,1.5/L]]", "adam[lr=0.05]"]
seeds = 3
budget = 60
tol = 1e-6
budgets = { "rosenbrock" = 80 }
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A store written by two sessions with different specs, and its bundle."""
    tmp = tmp_path_factory.mktemp("bundle")
    spec = tmp / "spec.toml"
    spec.write_text(SPEC)
    store = tmp / "store"
    for args in ([str(spec)], ["-p", "log-cosh", "-o", "gd[lr=0.5/L]", "--seeds", "2",
                               "--budget", "30"]):
        res = fork_cli("run", *args, "--out", str(store), "--no-report", "--quiet")
        assert res.returncode == 0, res.stderr
    db = store / "results.sqlite"
    zpath = tmp / "made" / "b.zip"
    res = fork_cli("export", "--format", "bundle", "--db", str(db), "--dest", str(zpath))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(zpath)
    return tmp, db, zpath


def _members(zpath: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zpath) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rezip(members: dict[str, bytes], dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return dest


def test_a_bundle_holds_the_store_report_specs_environment_and_checksums(made):
    from optbench import __version__
    from optbench.store import RESULTS_VERSION, Store

    _, db, zpath = made
    members = _members(zpath)
    assert set(members) == {"manifest.json", "results.sqlite", "report.html",
                            "environment.json", "spec-1.toml", "spec-2.toml"}
    manifest = json.loads(members["manifest.json"])
    assert manifest["results_version"] == RESULTS_VERSION
    assert manifest["optbench"] == __version__
    assert set(manifest["members"]) == set(members) - {"manifest.json"}
    for name, entry in manifest["members"].items():
        assert entry["sha256"] == hashlib.sha256(members[name]).hexdigest(), name
        assert entry["bytes"] == len(members[name])
    assert members["report.html"].startswith(b"<!DOCTYPE html>")
    env = json.loads(members["environment.json"])
    with Store(db) as s:
        sessions = s.sessions()
        assert manifest["runs"] == sum(s.status_counts().values()) == 2 * 3 * 3 + 2
    assert [e["versions"] for e in env["sessions"]] == [json.loads(s["versions"])
                                                          for s in sessions]
    assert [e["command"] for e in env["sessions"]] == [s["command"] for s in sessions]


def test_a_bundle_moved_elsewhere_reads_as_its_store_and_stays_untouched(made, tmp_path):
    import optbench

    _, db, zpath = made
    away = tmp_path / "elsewhere"
    away.mkdir()
    moved = Path(shutil.copy(zpath, away / "moved.zip"))
    before = moved.read_bytes()
    out = tmp_path / "out"
    # the report, from another folder, with the bundle named
    res = fork_cli("report", "--db", "moved=moved.zip", "--html", str(out / "r.html"), cwd=away)
    assert res.returncode == 0, res.stderr
    page = (out / "r.html").read_text(encoding="utf-8")
    assert "gd[lr=1.5/L]" in page and "adam[lr=0.05]" in page and "log-cosh" in page
    # unnamed, without --html: the source is named after its folder, the page goes under
    # optbench-results/ in the working folder, never beside the bundle
    res = fork_cli("report", "--db", "elsewhere/moved.zip", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    page = (tmp_path / "optbench-results" / "report.html").read_text(encoding="utf-8")
    assert "elsewhere (elsewhere/moved.zip)" in page
    # the Python API: the same frame and traces as the store's
    frame = optbench.load(moved)
    pd.testing.assert_frame_equal(frame, optbench.load(db))
    for rid in frame.run_id[::5]:
        a, b = optbench.load_trace(moved, rid), optbench.load_trace(db, rid)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    # the export reads it too: the same CSV as the store's
    for src, dest in ((str(moved), out / "from-bundle"), (str(db), out / "from-store")):
        res = fork_cli("export", "--format", "csv", "--db", src, "--dest", str(dest))
        assert res.returncode == 0, res.stderr
    for name in ("runs.csv", "traces.csv"):
        assert (out / "from-bundle" / name).read_bytes() == (out / "from-store" / name).read_bytes()
    # read-only: the zip unchanged byte for byte, nothing written beside it
    assert moved.read_bytes() == before
    assert sorted(p.name for p in away.iterdir()) == ["moved.zip"]


def test_the_bundled_specs_rerun_to_the_same_run_ids(made, tmp_path):
    import optbench
    from optbench.api import load_spec

    _, db, zpath = made
    members = _members(zpath)
    stored = set(optbench.load(db).run_id)
    rerun: set[str] = set()
    for i, name in enumerate(("spec-1.toml", "spec-2.toml")):
        spec = tmp_path / name
        spec.write_bytes(members[name])
        load_spec(spec)  # what optbench run accepts
        out = tmp_path / f"rerun-{i}"
        res = fork_cli("run", str(spec), "--out", str(out), "--no-report", "--quiet")
        assert res.returncode == 0, res.stderr
        rerun |= set(optbench.load(out).run_id)
    assert rerun == stored
    assert 'budgets = { "rosenbrock" = 80 }' in members["spec-1.toml"].decode()
    assert "tol = 1e-06" in members["spec-1.toml"].decode()


def _refused(args, cwd=None):
    res = fork_cli(*args, cwd=cwd)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def test_a_tampered_bundle_is_refused_naming_the_member(made, tmp_path):
    _, _, zpath = made
    members = _members(zpath)
    data = bytearray(members["results.sqlite"])
    data[len(data) // 2] ^= 0xFF
    bad = _rezip({**members, "results.sqlite": bytes(data)}, tmp_path / "tampered.zip")
    line = _refused(["report", "--db", str(bad), "--html", str(tmp_path / "r.html")])
    assert "'results.sqlite' does not match the sha256 in its manifest" in line
    # a changed report is found as well, whichever member it is
    bad = _rezip({**members, "report.html": b"<html>changed</html>"}, tmp_path / "t2.zip")
    assert "'report.html'" in _refused(["export", "--format", "csv", "--db", str(bad),
                                        "--dest", str(tmp_path / "csv")])
    extra = _rezip({**members, "extra.py": b"print()"}, tmp_path / "extra.zip")
    assert "'extra.py', which its manifest does not list" in _refused(
        ["report", "--db", str(extra), "--html", str(tmp_path / "r.html")])
    lacking = _rezip({k: v for k, v in members.items() if k != "spec-2.toml"},
                     tmp_path / "lacking.zip")
    assert "lacks 'spec-2.toml'" in _refused(["report", "--db", str(lacking)])
    foreign = _rezip({"results.sqlite": members["results.sqlite"]}, tmp_path / "foreign.zip")
    assert "is not an optbench bundle" in _refused(["report", "--db", str(foreign)])
    assert not (tmp_path / "csv").exists()


def test_writing_into_a_bundle_is_refused(made, tmp_path):
    from optbench.errors import StoreError
    from optbench.store import Store

    _, _, zpath = made
    line = _refused(["run", "-p", "quadratic-1d", "-o", "gd", "--seeds", "1", "--budget", "5",
                     "--out", str(tmp_path / "x.zip"), "--no-report"])
    assert "--out must be a folder for the store, not a bundle" in line
    assert not (tmp_path / "x.zip").exists()
    before = zpath.read_bytes()
    with pytest.raises(StoreError, match="is a bundle, which is read-only"):
        Store(zpath, create=True)
    assert zpath.read_bytes() == before


def test_the_tuning_record_travels_with_the_store(made, tmp_path):
    from optbench.bundle_writer import write_bundle
    from optbench.store import read_tuning, write_tuning

    _, db, _ = made
    copy = tmp_path / "s" / "results.sqlite"
    copy.parent.mkdir()
    shutil.copy(db, copy)
    record = {"criterion": "aulg", "winners": [{"family": "gd", "lr": 0.25}],
              "tuning_run_ids": ["a"], "final_run_ids": ["b"]}
    write_tuning(copy, record)
    zpath = write_bundle(copy, tmp_path / "t.zip", report=False)
    assert "results.tuning.json" in _members(zpath) and "report.html" not in _members(zpath)
    assert read_tuning([zpath]) == read_tuning([copy]) == record
