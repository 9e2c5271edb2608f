"""The documents in docs/: metrics.md is the metric catalog and lists every stored column,
architecture.md names every module, and every citation in the code points at a file and a
section inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from optbench.metrics import METRICS
from optbench.metrics.document import RUN_COLUMNS, family, markdown, split

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
    got = split("evaluations spent (evaluations; None = never)")
    assert got == ("evaluations spent", "evaluations; None = never")
    # an interval in the unit: brackets of either kind nest
    assert split("path straightness ‖x_T − x_0‖ / Σ‖s_t‖ (in (0, 1])") == (
        "path straightness ‖x_T − x_0‖ / Σ‖s_t‖", "in (0, 1]")
    assert split("cosine (in [−1, 1])") == ("cosine", "in [−1, 1]")
    assert split("regime of η·L (or heavy ball's damping), constant rate only") == (
        "regime of η·L (or heavy ball's damping), constant rate only", "")
    assert split("no group") == ("no group", "")


def test_every_metric_row_has_its_unit_whole():
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    row = re.search(r"^\| `straightness` \| (.*) \| (.*) \|$", text, re.M)
    assert row and row.group(2) == "in (0, 1]" and row.group(1).endswith("Σ‖s_t‖")
    assert {family(k) for k in METRICS} == {"Convergence", "Overshoot", "Oscillation", "Theory"}


def test_metrics_md_lists_every_column_a_run_stores(tmp_path):
    import optbench

    res = optbench.run(problems=["quadratic-1d"], optimizers=["gd[lr=0.1]"], seeds=1, budget=5,
                       out=tmp_path, report=False)
    frame = optbench.load(res.db, traces=True)
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    missing = []
    for column in frame.columns:
        key = re.sub(r"^(hp|pp)\..*", r"\1.<name>", column)
        if not re.search(rf"^\| `{re.escape(key)}` \|", text, re.M):
            missing.append(column)
    assert not missing, f"columns of optbench.load that docs/metrics.md does not list: {missing}"
    assert not set(RUN_COLUMNS) & set(METRICS)


def _anchors(path) -> set[str]:
    """The anchors of a Markdown file's headings, as GitHub writes them."""
    heads = re.findall(r"^#+ (.+?)\s*$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def _sources():
    """Every file of the repository that may cite a document."""
    yield from ROOT.glob("*.md")
    yield from (ROOT / "docs").glob("*.md")
    yield from (ROOT / "benchmarks").glob("*.md")
    for folder in ("optbench", "problems", "optimizers", "reports", "examples", "tests",
                   "benchmarks"):
        yield from (ROOT / folder).rglob("*.py")


def test_every_section_a_file_cites_exists():
    # a section is cited as docs/<file>.md#<anchor> (or <file>.md#<anchor>, #<anchor> inside
    # docs/), the anchor of one of that file's headings
    cited = re.compile(r"(?<![\w/.-])((?:docs/)?[\w-]+\.md)?#([a-z0-9][\w-]*)")
    bad = []
    n = 0
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for m in cited.finditer(text):
            name, anchor = m.groups()
            if name is None:
                if path.parent.name != "docs" or path.suffix != ".md" or text[m.start() - 1] != "(":
                    continue  # only a document's own links: "#" starts comments elsewhere
                target = path
            else:
                target = ROOT / "docs" / name.removeprefix("docs/")
                if not target.is_file():
                    continue  # files are checked by the test below
            n += 1
            if anchor not in _anchors(target):
                bad.append(f"{path.relative_to(ROOT)}: {name or path.name}#{anchor}")
    assert not bad, bad
    assert n > 10  # the citations are found
    # a section named in prose ("docs/metrics.md, theory") cannot be checked: cite its anchor
    prose = re.compile(r"docs/[\w-]+\.md`*, [a-z]")
    named = [f"{p.relative_to(ROOT)}" for p in _sources()
             if p.resolve() != Path(__file__).resolve() and prose.search(p.read_text("utf-8"))]
    assert not named, named


def test_no_section_labels_the_repository_does_not_define():
    # "§2.1", "C8", "O6", "Z1": labels of a numbering no document defines; cite a section
    # by its anchor (docs/metrics.md#convergence) and a metric by its column instead
    label = re.compile(r"§|\b[COZ]\d+(?:r|₁)?\b(?![.\d])")
    found = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in _sources()
        if path.resolve() != Path(__file__).resolve()
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if label.search(line)
    ]
    assert not found, found


def test_architecture_md_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [p.stem for p in sorted((ROOT / "optbench").glob("*.py"))
               if p.stem != "__init__" and f"`{p.stem}`" not in text]
    missing += [f"{p.name}/" for p in sorted((ROOT / "optbench").iterdir())
                if (p / "__init__.py").is_file() and f"`optbench/{p.name}/`" not in text]
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_methodology_md_states_the_divergence_rule_the_runner_applies_without_f_star(tmp_path):
    # GD at ηh = 3 on f(x) = x², a problem that knows neither f* nor x*: f_t = 4^t·f_0, and
    # the documented rule (f_t − f_0 > 1e6·max(|f_0|, 1)) names the update the runner stops at
    import optbench

    text = (ROOT / "docs" / "methodology.md").read_text(encoding="utf-8")
    assert "Where f* is unknown the value\n   test is a rise from the start, " \
           "`f_t − f_0 > 1e6 · max(|f_0|, 1)`" in text
    plugin = tmp_path / "no_star_bowl.py"
    plugin.write_text(
        "from optbench import Problem, register_problem\n"
        "@register_problem('no-star-bowl')\n"
        "def no_star_bowl():\n"
        "    return Problem(dim=1, f=lambda X: X[:, 0] ** 2, grad=lambda X: 2 * X,\n"
        "                   bounds=([2.0], [3.0]))\n"
    )

    res = optbench.run(problems=["no-star-bowl"], optimizers=["gd[lr=1.5]"], seeds=2, budget=100,
                       out=tmp_path / "out", plugins=[str(plugin)], report=False)
    frame = optbench.load(res.db, traces=True)
    for _, run in frame.iterrows():
        f0 = float(run.trace["f"][0])
        t = 1
        while 4.0**t * f0 - f0 <= 1e6 * max(abs(f0), 1.0):
            t += 1
        assert run.status == "diverged" and run.n_iter == t
        assert run.message == f"diverged at update {t}"


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
