"""Sections are built early sections first (their worker jobs start sooner) and placed on
the page by their order either way."""

from __future__ import annotations

import re

import pytest

import optbench
from optbench import registry
from optbench.report import Section, build_sections
from optbench.report.context import read_context


@pytest.fixture
def two_sections():
    built = []

    def make(name):
        def section(ctx):
            built.append(name)
            return Section(name, f"<p>{name}</p>")
        return section

    registry.register_section("test-late-page-early-build", order=99, early=True)(
        make("late-page-early-build"))
    registry.register_section("test-first-on-page", order=0)(make("first-on-page"))
    yield built
    for name in ("test-late-page-early-build", "test-first-on-page"):
        registry._REGISTRY["section"].pop(name)


def test_an_early_section_is_built_first_and_placed_by_its_order(two_sections, tmp_path):
    res = optbench.run(problems=["quadratic-1d"], optimizers=["gd", "random-search"], seeds=2,
                       budget=20, out=tmp_path / "o", report=False)
    lines = []
    sections = build_sections(read_context([res.db]), lines.append)
    assert two_sections == ["late-page-early-build", "first-on-page"]
    # the per-problem section, early too, is built before any section that is not
    names = [re.sub(r"^section \d+/\d+ ", "", ln) for ln in lines]
    assert names.index("per-problem") < names.index("test-first-on-page")
    assert names.index("per-problem") < names.index("summary")
    anchors = [s.anchor for s in sections]
    assert anchors[0] == "test-first-on-page" and anchors[-1] == "test-late-page-early-build"
    orders = [s.order for s in sections]
    assert orders == sorted(orders)
