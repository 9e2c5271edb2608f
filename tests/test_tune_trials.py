"""Tuning by quasi-random trials: every family gets the same K trials of its declared space,
each scored from its stored runs, the tracks are the best of the first k, the final runs
are on fresh seeds, and the same trials come back on another executor and on a resume."""

from __future__ import annotations

import json
import statistics

import pytest

import optbench
from optbench import registry
from optbench.errors import UsageError
from optbench.search_space import parse_space, trials
from optbench.spec import format_value
from optbench.tune_trials import tune_trials

K = 6
FAMILIES = ["momentum", "adam", "scipy-bfgs"]


def _tune(out, executor="serial"):
    return tune_trials(["quadratic-1d"], FAMILIES, trials=K, tuning_seeds=2, seeds=3, budget=60,
                out=out, executor=executor, report=False)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("trials") / "out"
    res = _tune(out)
    return out, res, json.loads(res.record.read_text())


def test_every_family_gets_the_same_number_of_trials_from_its_declared_space(tuned):
    _, _, record = tuned
    registry.load_builtins("optimizer")
    assert record["families"] == ["momentum", "adam"] and record["baselines"] == ["scipy-bfgs"]
    L = 1.0  # quadratic-1d's curvature (docs: f = (x - 3)^2 / 2)
    for r in record["results"]:
        assert len(r["trials"]) == K
        space = parse_space(registry.get("optimizer", r["family"]).meta["space"])
        want = [{k: format_value(v) if not isinstance(v, float) else v for k, v in t.items()}
                for t in trials(space, K, L=L)]
        assert [t["params"] for t in r["trials"]] == want
        assert len(space) >= 2  # at least two tuned hyperparameters per family


def test_scores_are_the_median_aulg_of_the_stored_tuning_runs(tuned):
    out, _, record = tuned
    frame = optbench.load(out / "results.sqlite")
    tuning = frame[frame.seed.isin(record["tuning_seeds"])]
    for r in record["results"]:
        for t in r["trials"]:
            runs = tuning[tuning.label == t["label"]]
            assert sorted(runs.seed) == record["tuning_seeds"]
            assert t["score"] == pytest.approx(statistics.median(runs.aulg), rel=1e-12)
        for k, track in r["tracks"].items():
            if k == "0":
                assert track["trial"] is None
                runs = tuning[tuning.label == track["label"]]
                assert track["score"] == pytest.approx(statistics.median(runs.aulg), rel=1e-12)
                continue
            first = r["trials"][: int(k)]
            best = min(first, key=lambda t: (t["score"], t["index"]))
            assert (track["trial"], track["label"]) == (best["index"], best["label"])


def test_tracks_run_on_fresh_seeds_the_defaults_first(tuned):
    out, res, record = tuned
    frame = optbench.load(out / "results.sqlite").set_index("run_id")
    assert record["budgets"] == [0, 4, K]
    assert record["defaults"] == {"momentum": "momentum", "adam": "adam"}
    for r in record["results"]:
        for track in r["tracks"].values():
            runs = frame.loc[track["run_ids"]]
            assert sorted(runs.seed) == record["final_seeds"]
            assert set(runs.label) == {track["label"]}
        assert r["tracks"][str(K)]["run_ids"] == record["final_families"][r["family"]]
    assert not set(record["final_seeds"]) & set(record["tuning_seeds"])
    assert {w["family"] for w in res.winners} == {"momentum", "adam"}


def test_the_same_trials_on_another_executor_and_nothing_new_on_a_resume(tuned, tmp_path):
    out, _, record = tuned
    n_runs = len(optbench.load(out / "results.sqlite"))
    again = json.loads(_tune(out).record.read_text())  # a resume: every run is stored
    assert len(optbench.load(out / "results.sqlite")) == n_runs
    other = json.loads(_tune(tmp_path / "p", executor="process").record.read_text())
    for rec in (again, other):
        assert rec["results"] == record["results"] or [
            [(t["label"], t["score"]) for t in r["trials"]] for r in rec["results"]
        ] == [[(t["label"], t["score"]) for t in r["trials"]] for r in record["results"]]
        assert [w["label"] for w in rec["winners"]] == [w["label"] for w in record["winners"]]


@pytest.mark.parametrize("kwargs, match", [
    ({"trials": 0}, "at least 1"),
    ({"trials": 200_000}, "more than the 10,000 trials"),
    ({"trials": 4, "space": {"adam": "lr=normal(0, 1)"}}, "cannot read the range"),
    ({"trials": 4, "space": {"adam": "rate=log(0.1, 1)"}}, "not a hyperparameter"),
    ({"trials": 4, "space": {"lion": "lr=log(0.1, 1)"}}, "none of the tuned families"),
])
def test_bad_trials_input_is_one_line(tmp_path, kwargs, match):
    with pytest.raises(UsageError, match=match) as err:
        tune_trials(["quadratic-1d"], ["adam"], tuning_seeds=1, seeds=1, budget=10,
             out=tmp_path / "o", report=False, **kwargs)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "o" / "results.sqlite").exists()


def test_a_space_without_trials_is_refused(tmp_path):
    from tests.conftest import fork_cli

    res = fork_cli("tune", "-p", "quadratic-1d", "-o", "adam", "--space", "adam:lr=log(0.1, 1)",
                  "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "--space goes with --trials" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_space_file_sets_the_space_and_a_bad_one_is_one_line(tmp_path):
    from tests.conftest import fork_cli

    spaces = tmp_path / "spaces.toml"
    spaces.write_text('[adam]\nlr = "log(1e-4, 0.1)"\nbeta1 = "1-log(0.01, 0.2)"\n'
                      '["momentum"]\nlr = "log(0.01, 1)/L"\n')
    out = tmp_path / "o"
    res = fork_cli("tune", "-p", "quadratic-1d", "-o", "adam", "-o", "momentum", "--trials", "2",
                  "--tuning-seeds", "1", "--seeds", "1", "--budget", "20", "--no-report",
                  "--quiet", "--space-file", str(spaces), "--space", "momentum:lr=log(0.1, 1)/L",
                  "--out", str(out))
    assert res.returncode == 0, res.stderr
    record = json.loads((out / "results.tuning.json").read_text())
    assert record["spaces"] == {"adam": {"lr": "log(0.0001, 0.1)", "beta1": "1-log(0.01, 0.2)"},
                                "momentum": {"lr": "log(0.1, 1)/L"}}  # --space wins
    for text, match in (("[adam]\nlr = 3\n", "must map hyperparameters to ranges as text"),
                        ("[adam\n", "is not TOML")):
        spaces.write_text(text)
        res = fork_cli("tune", "-p", "quadratic-1d", "-o", "adam", "--trials", "2", "--space-file",
                      str(spaces), "--out", str(tmp_path / "bad"))
        assert res.returncode == 2 and match in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    res = fork_cli("tune", "-p", "quadratic-1d", "-o", "adam", "--trials", "2", "--space-file",
                  str(tmp_path / "missing.toml"), "--out", str(tmp_path / "bad"))
    assert res.returncode == 2 and "cannot read the space file" in res.stderr
    assert not (tmp_path / "bad").exists()
