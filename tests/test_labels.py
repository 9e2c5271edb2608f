"""Labels are exact and complete: every swept value in every label of its sweep (a value
equal to the default included), numbers as written or rounded to the fewest digits that
tell the sweep apart, schedules with their parameters; run identities do not change.

``data/run_ids_e029df1.json`` holds the run ids that commit e029df1 (before labels
changed) planned for the specs below: a regression guard that relabelling left every run's
identity alone (resuming into an old store must find its runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optbench.plan import make_plan
from optbench.spec import display_number, parse

IDS = Path(__file__).parent / "data" / "run_ids_e029df1.json"
ID_SPECS = [
    (["quadratic-1d"], ["gd[lr=log(1e-3,1,7),schedule=cosine(T=100)]"]),
    (
        ["quadratic-1d", "linear-regression[standardize=true]"],
        ["gd[lr=[0.01,0.1,0.5]]", "gd[lr=[0.5/L,1/L,2/L]]", "momentum[lr=0.5/L,momentum=0.5]"],
    ),
]


def _labels(spec: str) -> list[str]:
    return [r.label for r in make_plan(["quadratic-1d"], [spec], seeds=1, budget=10).runs]


def test_a_swept_value_equal_to_the_default_keeps_its_value():
    # gd's default lr is 0.1: before, that label read just 'gd'
    assert _labels("gd[lr=[0.01,0.1,0.5]]") == ["gd[lr=0.01]", "gd[lr=0.1]", "gd[lr=0.5]"]


def test_multiples_of_one_over_L_print_as_written():
    assert _labels("gd[lr=[0.5/L,1/L,2/L]]") == ["gd[lr=0.5/L]", "gd[lr=1/L]", "gd[lr=2/L]"]


def test_a_log_range_is_rounded_to_the_digits_that_tell_it_apart():
    # 10^(-3 + k/2), k = 0..6: one significant digit already tells the seven apart
    want = ["0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1"]
    got = _labels("gd[lr=log(1e-3,1,7),schedule=cosine(T=100)]")
    assert got == [f"gd[lr={v},schedule=cosine(T=100)]" for v in want]


def test_values_too_close_for_six_digits_stay_exact_and_distinct():
    got = _labels("gd[lr=[0.1,0.10000001]]")
    assert len(set(got)) == 2
    assert [parse(g).params["lr"] for g in got] == [0.1, 0.10000001]


def test_every_label_of_a_sweep_carries_every_swept_key():
    spec = "momentum[lr=[0.5/L,1.5/L],momentum=[0.5,0.9],schedule=cosine(T=[50,400])]"
    got = _labels(spec)
    assert len(got) == len(set(got)) == 8
    for g in got:
        p = parse(g)
        assert set(p.params) == {"lr", "momentum", "schedule"}
        assert p.params["schedule"].name == "cosine" and set(p.params["schedule"].params) == {"T"}


@pytest.mark.parametrize(
    "x, text",
    [(0.05, "0.05"), (1.0, "1"), (1e-5, "1e-5"), (2.5e6, "2.5e6"), (0.009999999999999998, "0.01"),
     (3, "3"), (0.1 + 0.2, "0.3")],
)
def test_display_number(x, text):
    assert display_number(x) == text


def test_run_ids_are_those_before_the_labels_changed():
    before = json.loads(IDS.read_text())
    now = {}
    for problems, optimizers in ID_SPECS:
        for r in make_plan(problems, optimizers, seeds=2, budget=50).runs:
            now[r.run_id] = [str(r.problem), str(r.optimizer), r.seed]
    assert now == before
