"""Search spaces: the forms read and written back, the quasi-random trials reproducible and
spread as their scales say, the declarations checked at registration, and the defaults
track equal to torch's defaults where torch defines them."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from optbench import registry
from optbench.errors import PluginError, SpecError
from optbench.search_space import parse_dimension, parse_space, space_text, trials
from optbench.spec import PerL


@pytest.mark.parametrize("text", [
    "log(0.001, 4)/L else log(1e-05, 1)", "1-log(0.001, 0.5)", "uniform(0, 1)", "log(1e-05, 1)",
    "choice(constant, cosine(T=400), step(step_size=10, gamma=0.5))",
])
def test_a_dimension_reads_back_what_it_writes(text):
    dim = parse_dimension(text)
    assert parse_dimension(dim.text()) == dim and dim.text() == text


@pytest.mark.parametrize("text, match", [
    ("log(0, 1)", "above 0"), ("log(2, 1)", "a < b"), ("1-log(0.1, 1)", "b < 1"),
    ("gauss(0, 1)", "expected 'log"), ("uniform(0, 1) else log(1, 2)", "'/L' range only"),
    ("log(0.1, 1)/L else log(0.1, 1)/L", "absolute range"), ("choice()", "nothing"),
])
def test_a_wrong_range_is_one_line_naming_the_forms(text, match):
    with pytest.raises(SpecError, match=match) as err:
        parse_dimension(text, "'lr'")
    assert "\n" not in str(err.value)


def test_trials_repeat_and_the_first_k_are_the_k_asked_for_alone():
    space = parse_space("lr=log(0.001, 4)/L else log(1e-5, 1); momentum=1-log(0.001, 0.5)")
    assert trials(space, 12, L=3.0) == trials(space, 12, L=3.0)
    assert trials(space, 5, L=3.0) == trials(space, 12, L=3.0)[:5]
    # the same coordinates on a problem without L: the absolute range, same momentum
    for a, b in zip(trials(space, 12, L=3.0), trials(space, 12, L=None), strict=True):
        assert isinstance(a["lr"], PerL) and isinstance(b["lr"], float)
        assert a["momentum"] == b["momentum"]
        ua = math.log(a["lr"].k / 1e-3) / math.log(4 / 1e-3)
        ub = math.log(b["lr"] / 1e-5) / math.log(1 / 1e-5)
        assert ua == pytest.approx(ub, abs=1e-3)  # one coordinate, two ranges


@pytest.mark.parametrize("text, to_unit", [
    ("log(1e-3, 1)", lambda v: (np.log10(v) + 3) / 3),
    ("1-log(0.001, 0.5)", lambda v: (np.log(1 - v) - np.log(1e-3)) / (np.log(0.5) - np.log(1e-3))),
    ("uniform(-2, 6)", lambda v: (v + 2) / 8),
])
def test_trials_spread_evenly_on_their_scale(text, to_unit):
    n = 128
    values = np.array([t["x"] for t in trials({"x": parse_dimension(text)}, n)])
    u = np.sort(to_unit(values))
    # a low-discrepancy sequence: the i-th smallest sits near (i + 1/2)/n on its own scale
    # (the rounding to 4 digits moves a value by at most 1e-3 of a decade)
    assert np.max(np.abs(u - (np.arange(n) + 0.5) / n)) < 3 / n


def test_a_choice_takes_every_value_about_equally_often():
    dim = parse_dimension("choice(a, b, c)")
    picks = [t["s"] for t in trials({"s": dim}, 90)]
    assert {picks.count(c) for c in "abc"} <= set(range(28, 33))


def test_a_declaration_naming_no_hyperparameter_is_refused_at_registration():
    with pytest.raises(PluginError, match="'rate', which is not a hyperparameter"):
        registry.register_optimizer("space-probe", space={"rate": "log(0.1, 1)"})(
            lambda lr=0.1: None)
    with pytest.raises(PluginError, match="cannot read the range"):
        registry.register_optimizer("space-probe", space={"lr": "log 0.1..1"})(
            lambda lr=0.1: None)
    with pytest.raises(PluginError, match="defaults name"):
        registry.register_optimizer("space-probe", defaults={"beta": 0.9})(lambda lr=0.1: None)


def test_every_declared_space_parses_and_samples():
    registry.load_builtins("optimizer")
    declared = {e.name: e.meta["space"] for e in registry.entries("optimizer")
                if e.meta.get("space")}
    assert {"gd", "momentum", "nesterov", "adam", "adamw", "rmsprop"} <= set(declared)
    for name, space in declared.items():
        parsed = parse_space(space)
        assert space_text(parsed) == space
        assert len(trials(parsed, 4, L=2.0)) == 4, name
    # at least two tuned hyperparameters for the families the lesson compares
    assert all(len(declared[n]) >= 2 for n in ("gd", "momentum", "adam"))


def _defaults(name: str) -> dict:
    entry = registry.get("optimizer", name)
    sig = inspect.signature(entry.factory)
    own = {k: p.default for k, p in sig.parameters.items() if p.default is not p.empty}
    return {**own, **entry.meta["defaults"]}


@pytest.mark.parametrize("name, cls, pairs", [
    ("gd", "SGD", {"lr": "lr"}),
    ("momentum", "SGD", {"lr": "lr"}),
    ("adam", "Adam", {"lr": "lr", "beta1": ("betas", 0), "beta2": ("betas", 1), "eps": "eps"}),
    ("adamw", "AdamW", {"lr": "lr", "beta1": ("betas", 0), "beta2": ("betas", 1),
                        "weight_decay": "weight_decay"}),
    ("nadam", "NAdam", {"lr": "lr", "beta1": ("betas", 0), "beta2": ("betas", 1)}),
    ("adamax", "Adamax", {"lr": "lr"}),
    ("rmsprop", "RMSprop", {"lr": "lr", "alpha": "alpha"}),
    ("adagrad", "Adagrad", {"lr": "lr"}),
])
def test_the_defaults_track_is_torchs_defaults(name, cls, pairs):
    torch = pytest.importorskip("torch")
    registry.load_builtins("optimizer")
    theirs = getattr(torch.optim, cls)([torch.zeros(1, requires_grad=True)]).defaults
    ours = _defaults(name)
    for mine, key in pairs.items():
        want = theirs[key[0]][key[1]] if isinstance(key, tuple) else theirs[key]
        assert ours[mine] == pytest.approx(want, rel=1e-12), (name, mine)
    if name == "momentum":  # torch's momentum is 0 (plain GD): the common 0.9, and said so
        assert theirs["momentum"] == 0 and ours["momentum"] == 0.9
        assert "0.9" in registry.get("optimizer", name).meta["defaults_note"]
