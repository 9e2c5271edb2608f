"""The spec grammar: DESIGN's examples, expansion, and malformed input."""

from __future__ import annotations

import math

import pytest

from optbench.errors import SpecError
from optbench.spec import PerL, Spec, Sweep, count, expand, format_spec, parse


def test_plain_name_and_values():
    s = parse('gd[lr=0.05,schedule=cosine(T=100),flag=true,name="a b",none=none,n=7]')
    assert s.name == "gd"
    assert s.params["lr"] == 0.05
    assert s.params["schedule"] == Spec("cosine", {"T": 100})
    assert s.params["flag"] is True
    assert s.params["name"] == "a b"
    assert s.params["none"] is None
    assert s.params["n"] == 7 and isinstance(s.params["n"], int)
    assert parse("random-search") == Spec("random-search", {})


def test_ranges_are_exact_at_the_ends_and_evenly_spaced():
    (lr,) = parse("gd[lr=log(1e-3,1,7)]").params.values()
    assert isinstance(lr, Sweep) and len(lr.values) == 7
    assert lr.values[0] == 1e-3 and lr.values[-1] == 1.0
    ratios = [b / a for a, b in zip(lr.values, lr.values[1:], strict=False)]
    assert all(math.isclose(r, 10**0.5, rel_tol=1e-12) for r in ratios)
    (lin,) = parse("gd[lr=lin(0.1,1,10)]").params.values()
    assert lin.values == pytest.approx([0.1 * k for k in range(1, 11)], rel=1e-12)


def test_curvature_multiples():
    s = parse("gd[lr=[0.5/L,1.5/L,2.5/L]]")
    assert s.params["lr"].values == (PerL(0.5), PerL(1.5), PerL(2.5))
    assert PerL(1.5).resolve(4.0, "lr") == 0.375
    with pytest.raises(SpecError, match="curvature L"):
        PerL(1.5).resolve(None, "lr")


def test_cartesian_expansion_including_nested_specs():
    s = parse("gd[lr=[0.1,0.2,0.3],schedule=cosine(T=[10,20])]")
    out = expand(s)
    assert len(out) == 6
    assert {(o.params["lr"], o.params["schedule"].params["T"]) for o in out} == {
        (a, b) for a in (0.1, 0.2, 0.3) for b in (10, 20)
    }


def test_sequence_parameters_take_a_list_literally():
    s = parse("sched[milestones=[30,60]]")
    out = expand(s, literal=lambda owner, key: key == "milestones")
    assert out == [Spec("sched", {"milestones": [30, 60]})]


def test_format_round_trips():
    for text in [
        "gd[lr=0.1,schedule=cosine(T=100)]",
        "gd[lr=1.5/L]",
        "linear-regression[standardize=true]",
        'p[path="data/my file.csv"]',
        "random-search",
    ]:
        assert format_spec(parse(text)) == text
        assert parse(format_spec(parse(text))) == parse(text)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("quadratic-1d[", "expected a parameter name or ']'"),
        ("gd[lr=]", "expected a value"),
        ("gd[lr=0.1", "expected ',' or ']'"),
        ("gd[lr 0.1]", "expected '=' after 'lr'"),
        ("gd[lr=0.1,lr=0.2]", "given twice"),
        ("gd[lr=log(1,2)]", "takes three numbers"),
        ("gd[lr=log(0,1,5)]", "start > 0"),
        ("gd[lr=lin(0,1,2.5)]", "whole number"),
        ("gd[lr=1.5/K]", "expected 'L'"),
        ("gd]", "unexpected ']'"),
        ("", "empty"),
        ("gd[x='open]", "unterminated"),
    ],
)
def test_malformed_specs_say_where_and_what(text, fragment):
    with pytest.raises(SpecError) as info:
        parse(text)
    assert fragment in str(info.value)
    if text:
        assert "position" in str(info.value)


@pytest.mark.parametrize(
    "text, literal_keys",
    [
        ("gd", ()),
        ("gd[lr=[0.1,0.2,0.3]]", ()),
        ("gd[lr=log(1e-3,1,7),schedule=cosine(T=[100,200])]", ()),
        ("gd[lr=[0.1,lin(0.2,0.4,3)],schedule=[constant,cosine(T=[1,2,3])]]", ()),
        ("gd[schedule=multistep(milestones=[30,60],gamma=[0.1,0.5])]", ("milestones",)),
    ],
)
def test_count_equals_the_expansion_without_making_it(text, literal_keys):
    def literal(owner, key):
        return key in literal_keys

    spec = parse(text)
    assert count(spec, literal) == len(expand(spec, literal))


def test_a_range_is_not_materialised_until_expanded():
    (lr,) = parse("gd[lr=lin(0.1,1,1000000000)]").params.values()
    assert count(parse("gd[lr=lin(0.1,1,1000000000)]")) == 10**9
    assert len(lr.values) == 10**9 and lr.values[-1] == 1.0
    assert lr.values[500_000_000] == pytest.approx(0.1 + 0.9 * 500_000_000 / (10**9 - 1))


def test_a_list_inside_a_sweep_is_one_value_and_dotted_calls_are_not_schedules():
    specs = expand(parse("torch[betas=[[0.9,0.99],[0.5,0.6]],lr=[0.1,0.2]]"))
    assert [(s.params["betas"], s.params["lr"]) for s in specs] == [
        ([0.9, 0.99], 0.1), ([0.9, 0.99], 0.2), ([0.5, 0.6], 0.1), ([0.5, 0.6], 0.2)]
    assert [s.params["lr"] for s in expand(parse("gd[lr=[0.1,log(1,10,2)]]"))] == [0.1, 1.0, 10.0]
    nested = parse("torch[scheduler=torch.optim.lr_scheduler.StepLR(step_size=3),s=cosine(T=5)]")
    assert nested.params["scheduler"].dotted and not nested.params["s"].dotted
