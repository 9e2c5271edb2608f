"""The report's progress line on stderr, as a user sees it: one line per step in a log, one
line rewritten in place on a terminal, nothing with --quiet; stdout keeps only the answer."""

from __future__ import annotations

import io
import re

import pytest

from optbench import registry
from tests.conftest import REPORT_SECTIONS

STEP = re.compile(r"^report: section (\d+)/(\d+) ([\w-]+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def optbench(tmp_path_factory, forked_cli):
    home = tmp_path_factory.mktemp("cwd")
    return lambda *args: forked_cli(*args, cwd=home)


RUN = ("run", "-p", "quadratic-1d", "-o", "gd", "--seeds", "2", "--budget", "20")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, optbench):
    """A two-run store, and what ``optbench run`` printed while it ran and wrote the report."""
    out = tmp_path_factory.mktemp("progress") / "results"
    r = optbench(*RUN, "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out, r


@pytest.fixture(scope="module")
def store(first_run):
    return first_run[0]


def _steps(stderr: str) -> list[tuple[int, int, str]]:
    return [(int(i), int(n), name) for i, n, name in STEP.findall(stderr)]


def _sections_in_order(steps) -> list[str]:
    n = steps[0][1]
    assert [i for i, _, _ in steps] == list(range(1, n + 1)) and {t for _, t, _ in steps} == {n}
    return [name for _, _, name in steps]


def test_report_shows_each_section_on_stderr_and_only_the_answer_on_stdout(store, optbench):
    r = optbench("report", "--out", str(store))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith("report: section 1/")
    assert lines[-1] == "report: writing report.html"
    names = _sections_in_order(_steps(r.stderr))
    built_in = [s for s in names if s in REPORT_SECTIONS]
    # every built-in section, the early ones first (their workers' jobs start sooner), the
    # others in page order
    early = [s for s in REPORT_SECTIONS if registry.get("section", s).meta.get("early")]
    assert early and built_in == early + [s for s in REPORT_SECTIONS if s not in early]
    assert r.stdout == f"report: {store / 'report.html'}\n"


def test_quiet_report_prints_no_progress(store, optbench):
    page = store / "report.html"
    page.unlink(missing_ok=True)
    r = optbench("report", "--out", str(store), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "report: " not in r.stderr and page.exists()
    assert r.stdout == f"report: {page}\n"


def test_run_shows_the_report_steps_unless_quiet(first_run, optbench):
    out, r = first_run
    assert _sections_in_order(_steps(r.stderr)) and "section" not in r.stdout
    r = optbench(*RUN, "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "report: " not in r.stderr and not r.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_line_is_rewritten_in_place_and_cleared(monkeypatch):
    """Each step overwrites the last (carriage return, erase line), cut to the terminal's
    width so that it never wraps; no step ends a line; close() erases the last one."""
    from optbench.cli import _ReportProgress

    monkeypatch.setenv("COLUMNS", "40")
    term = _Terminal()
    show = _ReportProgress(False, stream=term)
    show("section 0/2 first")
    show("section 1/2 a-section-with-a-name-longer-than-the-terminal")
    show("section 2/2 b")
    show.close()
    text = term.getvalue()
    assert "\n" not in text
    parts = text.split("\r\x1b[K")
    assert parts[0] == "" and parts[-1] == ""  # erased before each step and at the end
    shown = parts[1:-1]
    assert shown == [
        "report: section 0/2 first", "report: section 1/2 a-section-with-a-na",
        "report: section 2/2 b"]
    assert max(map(len, shown)) == 39
    quiet = _Terminal()
    hush = _ReportProgress(True, stream=quiet)
    hush("section 1/2 a")
    hush.close()
    assert quiet.getvalue() == ""


class _Closed(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError("the reader left")


def test_a_closed_stderr_does_not_stop_the_report():
    from optbench.cli import _ReportProgress

    show = _ReportProgress(False, stream=_Closed())
    show("section 1/2 a")  # no exception: the step is simply not shown
    show("section 2/2 b")
    show.close()
    assert show.quiet
