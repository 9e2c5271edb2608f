"""'What this run shows' says what the data say, checked against the closed form of GD on a
quadratic: with step k/L the error is multiplied by (1 − k) each update, so at k = 1.9 it
overshoots by |1 − k| = 90 %, crosses the minimum at every update, and stays within 2 % of
its start from t = ⌈ln 0.02 / ln 0.9⌉ = 38 on; at k = 2.5 |1 − k| > 1 and it diverges."""

from __future__ import annotations

import math
import re

import pytest

import optbench


@pytest.fixture(scope="module")
def paragraph(tmp_path_factory):
    out = tmp_path_factory.mktemp("lesson")
    res = optbench.run(
        problems=["quadratic-1d", "linear-regression[standardize=true,batch_size=10]"],
        optimizers=["gd[lr=[0.05/L,0.5/L,1.9/L,2.5/L]]", "gd[lr=0.5/L,schedule=cosine(T=300)]"],
        seeds=4,
        budget=300,
        out=out,
    )
    page = res.report.read_text(encoding="utf-8")
    m = re.search(r'<section id="lesson">.*?<p class=\'lead\'>(.*?)</p>', page, flags=re.S)
    assert m, "no 'What this run shows' section"
    return m.group(1).replace("&#x27;", "'"), optbench.load(res.db)


def test_the_paragraph_states_the_closed_form_numbers(paragraph):
    paragraph, _ = paragraph
    settle = math.ceil(math.log(0.02) / math.log(0.9))
    assert settle == 38
    assert "At gd[lr=1.9/L] it overshot the minimum by 90 %" in paragraph
    assert f"settled within 2 % in {settle} updates" in paragraph
    assert "as the theory predicts" in paragraph
    assert "At gd[lr=2.5/L] it diverged (4 of 4 runs)" in paragraph


def test_too_small_is_slow(paragraph):
    paragraph, _ = paragraph
    # from e0 the gap falls by (1 − k)² per update: 0.05/L needs ~10× the updates of 0.5/L
    m = re.search(r"fastest at gd\[lr=0.5/L\] \(([\d.]+) evaluations.*?at gd\[lr=0.05/L\] "
                  r"it needed ([\d.]+)", paragraph)
    assert m, paragraph
    fast, slow = float(m.group(1)), float(m.group(2))
    ratio = math.log(0.25) / math.log(0.95**2)  # updates per decade, slow over fast
    assert slow / fast == pytest.approx(ratio, rel=0.25)


def test_the_noise_floor_sentence_follows_the_medians(paragraph):
    paragraph, runs = paragraph
    num = r"(\d[\d.e-]*\d|\d)"
    m = re.search(rf"(gd\[lr=0.5/L\]) stalled .*? median final gap of {num}; (.*?) ended "
                  rf"(below|above) it, at {num}", paragraph)
    assert m, paragraph
    const, decay = float(m.group(2)), float(m.group(5))
    mb = runs[runs.problem_label.str.contains("batch_size")]
    med = mb.groupby("label").gap_final.median()
    assert const == pytest.approx(med[m.group(1)], rel=5e-3)
    assert decay == pytest.approx(med[m.group(3)], rel=5e-3)
    assert (decay < const) == (m.group(4) == "below")
