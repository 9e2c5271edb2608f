"""The documents in docs/: metrics.md is the metric catalog, and every citation in the code
points at a file inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from optbench.metrics import METRICS
from optbench.metrics.document import markdown, split

ROOT = Path(__file__).resolve().parents[1]


def test_metrics_md_is_the_generated_catalog():
    committed = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert committed == markdown(), (
        "docs/metrics.md is stale: python -m optbench.metrics.document > docs/metrics.md"
    )


def test_metrics_md_lists_every_metric_once():
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    for key in METRICS:
        assert len(re.findall(rf"^\| `{re.escape(key)}` \|", text, re.M)) == 1, key


def test_split_takes_the_trailing_group_apart():
    got = split("evaluations spent (C3; evaluations)")
    assert got == ("evaluations spent", "C3", "evaluations")
    assert split("regime (§2.1, §2.4)") == ("regime", "§2.1, §2.4", "")
    assert split("no group") == ("no group", "", "")


def test_every_document_a_file_cites_is_in_the_repository():
    cited = re.compile(r"docs/([\w.-]+\.md)")
    missing = []
    for path in [*ROOT.glob("*.md"), *ROOT.glob("docs/*.md")] + [
        p
        for folder in ("optbench", "problems", "optimizers", "reports", "examples", "tests")
        for p in (ROOT / folder).rglob("*.py")
    ]:
        for name in cited.findall(path.read_text(encoding="utf-8")):
            if not (ROOT / "docs" / name).is_file():
                missing.append(f"{path.relative_to(ROOT)}: docs/{name}")
    assert not missing, missing


def test_no_citation_of_documents_outside_the_repository():
    outside = re.compile(r"\b(?:dynamics|benchmarking|DESIGN)\.md\b")
    folders = ("optbench", "problems", "optimizers", "reports", "examples", "docs", "tests")
    found = [
        str(p.relative_to(ROOT))
        for folder in folders
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".py", ".md", ".html")
        and p.resolve() != Path(__file__).resolve()
        and outside.search(p.read_text(encoding="utf-8"))
    ]
    if outside.search((ROOT / "README.md").read_text(encoding="utf-8")):
        found.append("README.md")
    assert not found, found
