"""A hostile user of what makes results travel: a store's recorded components, problem
labels and session environments edited or damaged by hand, HTML where text is expected,
``--anonymous``, and comparisons of stores that look alike (a copy, skipped runs only, start
points a rounding apart, a store of the previous schema).

Each damaged store is refused in one line naming what is wrong and what was expected
(``... is corrupt: its needs is a JSON string ("gradient"), expected a list of text``), exit
2, no traceback, the file byte for byte as it was; or, where the damage is to what a report
only shows (a session's environment), the report renders and says the part is malformed.
The truth checked: the SQL edits themselves (what each store holds), HTML escaping
(``html.escape``), the file's bytes (sha256 before and after), and for the comparisons the
start points a closed form gives (the plug-in problem's start is a uniform draw plus a shift
the test chooses) and the pairing the stores allow.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import platform
import shutil
import sqlite3
from pathlib import Path

import pytest

import optbench
from optbench.errors import StoreError
from optbench.report.context import read_context
from reports.setup import setup
from tests.conftest import fork_cli

V1 = Path(__file__).parent / "data" / "store_v1.sqlite"
SMALL = ["-p", "quadratic-1d", "--seeds", "3", "--budget", "60", "--no-report", "--quiet"]

NO_GRADIENT = '''
from optbench import Problem, register_problem


@register_problem("flat-bowl")
def flat_bowl() -> Problem:
    """½·x², without a gradient."""
    import numpy as np

    return Problem(dim=1, f=lambda X: 0.5 * X[:, 0] ** 2, bounds=([-4.0], [4.0]),
                   x_star=[np.zeros(1)], f_star=0.0)
'''

SHIFTED = '''
from optbench import Problem, register_problem


@register_problem("shifted-bowl")
def shifted_bowl() -> Problem:
    """½·x², started {shift!r} to the right of a uniform draw in [-4, 4]."""
    import numpy as np

    return Problem(dim=1, f=lambda X: 0.5 * X[:, 0] ** 2, grad=lambda X: X.copy(),
                   bounds=([-10.0], [10.0]), x_star=[np.zeros(1)], f_star=0.0, L=1.0, mu=1.0,
                   start=lambda rng: rng.uniform(-4.0, 4.0, 1) + {shift!r})
'''

CLIPPED = Path(__file__).parents[1] / "examples" / "my_optimizer.py"


def _run(*args: str) -> None:
    res = fork_cli("run", *args)
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """Made once: gd on quadratic-1d (two step sizes), a store of skipped runs only (gd on
    a problem without a gradient), the plug-in optimizer and problem run --anonymous, and a
    plug-in problem in two versions whose start points differ by 1e-13 (a rounding) and by
    1e-3 (another point)."""
    root = tmp_path_factory.mktemp("travel")
    (root / "flat.py").write_text(NO_GRADIENT)
    _run(*SMALL, "-o", "gd[lr=0.5/L]", "--out", str(root / "base"))
    _run(*SMALL, "-o", "gd[lr=0.25/L]", "--out", str(root / "other"))
    _run("--plugin", str(root / "flat.py"), "-p", "flat-bowl", "-o", "gd[lr=0.1]",
         "--seeds", "3", "--budget", "60", "--no-report", "--quiet", "--out", str(root / "skip"))
    work = root / "work"  # a folder whose path the anonymous store must not hold
    work.mkdir()
    shutil.copy(CLIPPED, work / "clipped_plugin.py")
    _run("--plugin", str(work / "clipped_plugin.py"), "-p", "quadratic-1d", "-o", "clipped-gd",
         "--seeds", "2", "--budget", "30", "--no-report", "--quiet", "--anonymous",
         "--out", str(work / "anon"))
    for name, shift, lr in (("round-a", 0.0, 0.1), ("round-b", 1e-13, 0.2),
                            ("apart", 1e-3, 0.2)):
        plugin = root / f"shifted_{name.replace('-', '_')}.py"
        plugin.write_text(SHIFTED.format(shift=shift))
        _run("--plugin", str(plugin), "-p", "shifted-bowl", "-o", f"gd[lr={lr}]", "--seeds", "6",
             "--budget", "200", "--no-report", "--quiet", "--out", str(root / name))
    out = {name: root / name / "results.sqlite"
           for name in ("base", "other", "skip", "round-a", "round-b", "apart")}
    out["anon"] = work / "anon" / "results.sqlite"
    out["root"] = root
    return out


@pytest.fixture
def ob(forked_cli, tmp_path):
    """``optbench ARGS`` as a user types it, from an empty folder."""
    return lambda *args: forked_cli(*args, cwd=tmp_path)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edited(stores, name: str, *statements) -> Path:
    """A copy of the base store in its own folder, with SQL statements applied."""
    db = stores["root"] / "edited" / name / "results.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(stores["base"], db)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        for stmt in statements:
            conn.execute(*stmt) if isinstance(stmt, tuple) else conn.execute(stmt)
    return db


def _one_line_refusal(res, *expected: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for text in expected:
        assert text in lines[0], lines[0]


# -- damaged components and problem infos: refused in one line ---------------------------------

OPT = "UPDATE components SET info={} WHERE kind='optimizer'"
PROB = "UPDATE problems SET info={}"
GD, PROBLEM = "optimizer 'gd' in ", "problem '"  # whom the line names
DAMAGED = {
    # name: (SQL statements, what the line must say)
    "info not JSON": ([OPT.format("'{not json'")], GD, "its info is not valid JSON"),
    "info a list": ([OPT.format("'[1, 2]'")], GD, "its info is a JSON list, expected an object"),
    "info a number": ([OPT.format("'5'")], GD, "its info is a JSON number, expected an object"),
    "needs a string": ([OPT.format("json_set(info, '$.needs', 'gradient')")], GD,
                       'its needs is a JSON string ("gradient"), expected a list of text'),
    "needs a number": ([OPT.format("json_set(info, '$.needs', 7)")], GD,
                       "its needs is a JSON number (7), expected a list of text"),
    "needs of numbers": ([OPT.format("json_set(info, '$.needs', json('[1]'))")], GD,
                         "its needs is a JSON list ([1]), expected a list of text"),
    "description a number": ([OPT.format("json_set(info, '$.description', 7)")], GD,
                             "its description is a JSON number (7), expected text"),
    "theory a string": ([OPT.format("json_set(info, '$.theory', 'heavy-ball')")], GD,
                        'its theory is a JSON string ("heavy-ball"), expected an object'),
    "origin an object": ([OPT.format("json_set(info, '$.origin', json('{\"a\": 1}'))")], GD,
                         'its origin is a JSON object ({"a": 1}), expected text'),
    "components lacks info": (["DROP TABLE components",
                               "CREATE TABLE components (kind TEXT, name TEXT)"],
                              "is not a whole optbench store",
                              "its 'components' table lacks the column 'info'"),
    "problem info a list": ([PROB.format("'[1]'")], PROBLEM,
                            "its info is a JSON list, expected an object"),
    "label a number": ([PROB.format("json_set(info, '$.label', 42)")], PROBLEM,
                       "its label is a JSON number (42), expected text"),
    "label an object": ([PROB.format("json_set(info, '$.label', json('{\"a\":1}'))")], PROBLEM,
                        'its label is a JSON object ({"a": 1}), expected text'),
}


def _damaged(stores, case: str) -> tuple[Path, tuple[str, ...]]:
    sql, *expected = DAMAGED[case]
    return _edited(stores, case, *sql), tuple(expected)


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_record_is_refused_in_one_line(stores, case):
    """What the report reads (:func:`read_context`): one :class:`StoreError` line naming
    the record, what it holds and what was expected; the file untouched."""
    db, expected = _damaged(stores, case)
    before = _sha(db)
    with pytest.raises(StoreError) as err:
        read_context([db])
    text = str(err.value)
    assert "\n" not in text
    for part in (*expected, str(db)):
        assert part in text, text
    assert _sha(db) == before


@pytest.mark.parametrize("case", ["needs a string", "label a number"])
def test_the_report_command_refuses_a_damaged_record_with_exit_2(stores, ob, case):
    db, expected = _damaged(stores, case)
    before = _sha(db)
    res = ob("report", "--db", str(db), "--html", str(db.parent / "r.html"))
    _one_line_refusal(res, *expected, str(db))
    assert _sha(db) == before
    assert not (db.parent / "r.html").exists()


@pytest.mark.parametrize("case", ["problem info a list", "label a number", "components lacks info"])
def test_load_refuses_a_damaged_record_too(stores, case):
    """``optbench.load`` reads the problems' labels (and checks the tables): a damaged one
    is the same :class:`StoreError`, never an AttributeError from deep inside."""
    db, expected = _damaged(stores, case)
    before = _sha(db)
    with pytest.raises(StoreError) as err:
        optbench.load(db)
    assert expected[-1] in str(err.value)
    assert _sha(db) == before


def test_a_comparison_with_a_damaged_source_is_refused_whichever_side(stores):
    """A source's components are read even when another source (read first) describes the
    same optimizer: the damage is found wherever the damaged store stands."""
    db, expected = _damaged(stores, "info a list")
    for dbs in ((stores["other"], db), (db, stores["other"])):
        with pytest.raises(StoreError) as err:
            read_context(list(dbs), names=["A", "B"])
        assert all(part in str(err.value) for part in expected)


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_record_is_found_before_a_store_is_written_to(stores, case):
    """Opening for writing (``optbench run`` into it) checks every record's shape first: a
    run never adds rows to a store that its report would refuse."""
    from optbench.store import Store

    db, expected = _damaged(stores, case)
    before = _sha(db)
    with pytest.raises(StoreError) as err:
        Store(db, create=True)
    assert all(part in str(err.value) for part in expected), str(err.value)
    assert _sha(db) == before


@pytest.mark.parametrize("case", ["components lacks info", "needs a string"])
def test_a_run_into_a_damaged_store_leaves_it(stores, ob, case):
    db, expected = _damaged(stores, case)
    before = _sha(db)
    res = ob("run", *SMALL, "-o", "gd[lr=0.3/L]", "--out", str(db.parent))
    _one_line_refusal(res, *expected)
    assert _sha(db) == before


def test_a_store_without_components_opened_read_only_renders(stores, tmp_path):
    """A store written before components were recorded (no table), read without a write:
    Setup says "not recorded", and the file is untouched."""
    db = _edited(stores, "no components", "DROP TABLE components")
    before = _sha(db)
    ctx = read_context([db])
    assert ctx.components == {}
    section = setup(ctx)
    assert "not recorded" in section.body
    assert len(optbench.load(db)) == 3
    assert _sha(db) == before


# -- HTML where text is expected ---------------------------------------------------------------

def test_html_in_stored_text_is_escaped_in_setup(stores):
    marks = {
        1: "UPDATE problems SET info=json_set(info, '$.label', ?)",
        2: "UPDATE problems SET info=json_set(info, '$.description', ?)",
        3: "UPDATE components SET info=json_set(info, '$.description', ?)",
        4: "UPDATE components SET info=json_set(info, '$.origin', ?)",
        5: "UPDATE sessions SET versions=json_set(versions, '$.environment.cpu.model', ?)",
        6: "UPDATE sessions SET command=?",
        7: "UPDATE sessions SET host=?",
    }
    script = "<script>alert({})</script>"
    db = _edited(stores, "html", *((sql, (script.format(i),)) for i, sql in marks.items()))
    page = setup(read_context([db])).body
    for i in marks:
        assert script.format(i) not in page
        assert html.escape(script.format(i)) in page, i


# -- a malformed session environment: the report renders and says so --------------------------

ENV = "UPDATE sessions SET versions=json_set(versions, '$.environment{}', json(?))"
MALFORMED = {
    # name: (path under the environment, JSON, the part named malformed)
    "environment a list": ("", "[1, 2]", "environment"),
    "platform a list": (".platform", "[1, 2]", "platform"),
    "cpu a string": (".cpu", '"fast"', "cpu"),
    "cpu count a text": (".cpu.count", '"two"', "cpu count"),
    "blas of strings": (".blas", '["a", 3]', "blas"),
    "blas an object": (".blas", '{"a": 3}', "blas"),
    "threads a list": (".threads", "[1]", "threads"),
    "plugins of strings": (".plugins", '["x", null, 5]', "plugins"),
    "plugins of nested": (".plugins", '[{"plugin": {"deep": [1]}}]', "plugins"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_environment_renders_and_is_named(stores, case):
    where, value, part = MALFORMED[case]
    db = _edited(stores, f"env {case}", (ENV.format(where), (value,)))
    before = _sha(db)
    page = setup(read_context([db])).body
    row = page.split(">malformed<", 1)[1].split("</tr>", 1)[0]
    assert f">{part} (not shown)<" in row, row
    assert ">numpy<" in page  # the versions still show
    # what a comparison warns about reads it too (it raised before)
    from optbench.environment import difference_note
    from optbench.store import Store

    sessions = []
    for source, path in (("A", stores["base"]), ("B", db)):
        with Store(path) as store:
            sessions += [{**s, "source": source} for s in store.sessions()]
    difference_note(sessions)
    assert _sha(db) == before


@pytest.mark.parametrize("raw", ["[1, 2]", "{bad", None, '{"numpy": {"a": [1]}}'])
def test_versions_that_are_not_an_object_of_texts_still_render(stores, raw):
    db = _edited(stores, f"versions {raw}", ("UPDATE sessions SET versions=?", (raw,)))
    page = setup(read_context([db])).body
    assert "Environment" in page


def test_a_huge_recorded_fact_is_cut_in_setup(stores):
    from optbench.environment import MAX_TEXT

    huge = "X" * 1_000_000
    db = _edited(stores, "huge", ("UPDATE sessions SET versions=json_set(versions, "
                                  "'$.environment.cpu.model', ?, '$.numpy', ?)", (huge, huge)))
    page = setup(read_context([db])).body
    table = page.split("id='setup-problems'")[0]  # the environment table (the config link
    assert "X" * MAX_TEXT not in table            # below keeps the raw record)
    assert "X" * (MAX_TEXT - 1) + "…" in table


def test_a_session_with_a_damaged_start_time_renders(stores):
    db = _edited(stores, "started", "UPDATE sessions SET started='yesterday'",
                 "UPDATE sessions SET command=5")
    page = setup(read_context([db])).body
    assert '<td data-v="—">—</td><td data-v="5">5</td>' in page  # started, command


# -- --anonymous -------------------------------------------------------------------------------

def test_anonymous_store_holds_no_host_and_no_absolute_path(stores):
    db = stores["anon"]
    data = db.read_bytes()
    folder = str(db.parent.parent)  # the tmp folder the plug-in and the store are in
    assert folder.encode() not in data
    assert str(stores["root"]).encode() not in data
    node = platform.node()
    if len(node) >= 4:  # a name as short as "vm" turns up in any binary by chance
        assert node.encode() not in data
    with contextlib.closing(sqlite3.connect(db)) as conn:
        hosts = {h for (h,) in conn.execute(
            "SELECT host FROM sessions UNION SELECT host FROM runs")}
        (vers,) = conn.execute("SELECT versions FROM sessions").fetchone()
        (origin,) = conn.execute(
            "SELECT json_extract(info, '$.origin') FROM components WHERE name='clipped-gd'"
        ).fetchone()
    assert hosts == {""}
    assert origin == "clipped_plugin.py"  # the plug-in file by its name, not its path
    vers = json.loads(vers)
    assert vers["numpy"] and vers["optbench"] == optbench.__version__  # versions are kept
    plugins = vers["environment"]["plugins"]
    assert [p.get("file") for p in plugins] == ["clipped_plugin.py"]
    assert len(plugins[0]["sha256"]) == 64
    assert hashlib.sha256(CLIPPED.read_bytes()).hexdigest() == plugins[0]["sha256"]


# -- comparisons of stores that look alike -----------------------------------------------------

def _verdicts(*dbs: Path, names=None):
    ctx = read_context(list(dbs), names=names)
    return ctx.comparison.table()


def test_a_store_compared_with_its_copy_shows_no_change(stores, tmp_path):
    copy = tmp_path / "copy" / "results.sqlite"
    copy.parent.mkdir()
    shutil.copy(stores["base"], copy)
    table = _verdicts(stores["base"], copy, names=["A", "B"])
    assert list(table["verdict"]) == ["no detectable change"]
    assert list(table["label"]) == ["gd[lr=0.5/L]"]
    assert int(table["n"].iloc[0]) == 3


def test_one_store_named_twice_is_refused(stores, ob):
    res = ob("report", "--db", f"A={stores['base']}", "--db", f"B={stores['base']}")
    assert res.returncode == 2 and "are the same store" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_store_of_skipped_runs_only_says_they_were_skipped(stores, ob, tmp_path):
    """Skipped runs never ran, so are never compared: a comparison with a store that holds
    nothing else says that, rather than only "no run pairs"; also against a copy of itself,
    where every run has its twin."""
    copy = tmp_path / "skip2" / "results.sqlite"
    copy.parent.mkdir()
    shutil.copy(stores["skip"], copy)
    before = _sha(stores["skip"])
    said = ("flat-bowl gd[lr=0.1] (seeds 0–2, budget 60, all skipped: gd needs gradient, "
            "which flat-bowl does not provide)")
    res = ob("report", "--db", f"A={stores['skip']}", "--db", f"S={copy}", "--fail-on",
             "worse", "--html", str(tmp_path / "r.html"))
    _one_line_refusal(res, "S compared with nothing in the baseline A", said)
    from optbench.cli import _compared_with_nothing

    line = _compared_with_nothing(read_context([stores["base"], stores["skip"]],
                                               names=["A", "S"]))
    assert line.startswith("S compared with nothing in the baseline A") and said in line
    assert "A holds 3 runs: quadratic-1d gd[lr=0.5/L] (seeds 0–2, budget 60);" in line
    assert _sha(stores["skip"]) == before


def test_start_points_a_rounding_apart_pair_and_others_do_not(stores):
    """The plug-in's start is a uniform draw plus the shift: 1e-13 apart is within the
    start check's tolerance (the same point, as the draw is), 1e-3 is another point."""
    from optbench.stats.comparison import START_ATOL, START_RTOL

    assert 1e-13 < START_ATOL + START_RTOL * 4.0 < 1e-3  # what makes the two cases differ
    near = _verdicts(stores["round-a"], stores["round-b"], names=["A", "B"])
    assert list(near["label"]) == ["gd[lr=0.2] vs gd[lr=0.1]"]
    assert list(near["verdict"]) == ["better"]  # a twice larger step on ½x², L = 1
    assert int(near["n"].iloc[0]) == 6
    apart = _verdicts(stores["round-a"], stores["apart"], names=["A", "B"])
    assert set(apart["verdict"]) == {"not comparable"}
    assert apart["verdict_text"].str.contains("start points differ").all()


def test_a_schema_1_store_compared_with_a_new_one(stores, tmp_path):
    """The previous schema's store (no components, no labels, no environment) against a
    new store of the same runs: paired by label, no change, and the old file untouched."""
    old = tmp_path / "old" / "results.sqlite"
    old.parent.mkdir()
    shutil.copy(V1, old)
    before = _sha(old)
    new = tmp_path / "new"
    _run("-p", "quadratic-1d", "-o", "gd[lr=0.3]", "-o", "gd[lr=0.001]", "--seeds", "1",
         "--budget", "700", "--no-report", "--quiet", "--out", str(new))
    table = _verdicts(old, new / "results.sqlite", names=["OLD", "NEW"])
    compared = table[table["verdict"] != "only in one source"]
    assert sorted(compared["label"]) == ["gd[lr=0.001]", "gd[lr=0.3]"]
    assert set(compared["verdict"]) == {"no detectable change"}
    frame = optbench.load(old)
    assert frame["problem_label"].notna().all()
    page = setup(read_context([old])).body
    assert "not recorded" in page
    assert _sha(old) == before


# -- a plug-in's odd theory mapping ------------------------------------------------------------

ODD_THEORY = '''
from optbench import register_optimizer


@register_optimizer("odd-{i}", needs=("gradient",), theory={theory})
def odd(lr: float = 0.1, mu: float = 0.5, schedule: str = "constant"):
    """An optimizer that declares an odd theory mapping."""
    raise NotImplementedError
'''
ODD = {
    "one name, two parts": ('dict(model="heavy-ball", lr="lr", beta="lr")', "two parts"),
    "model in capitals": ('dict(model="HEAVY-BALL", lr="lr", beta="mu")', "model must be one of"),
    "beta for gd": ('dict(model="gd", lr="lr", beta="mu")', "beta must not be given"),
    "lr a number": ('dict(model="gd", lr=0.1)', "lr must name a hyperparameter"),
    "off a string": ('dict(model="gd", lr="lr", off="mu")', "off must be a list"),
    "a name it lacks": ('dict(model="gd", lr="eta")', "'eta', which is not one of"),
    "a set": ('{"gd", "lr"}', "must be a dict"),
}


@pytest.mark.parametrize("case", sorted(ODD))
def test_an_odd_theory_mapping_is_refused_by_name(ob, tmp_path, case):
    theory, expected = ODD[case]
    plugin = tmp_path / "odd.py"
    plugin.write_text(ODD_THEORY.format(i=1, theory=theory))
    res = ob("list", "optimizers", "--plugin", str(plugin))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert "'odd-1'" in res.stderr and expected in res.stderr, res.stderr


# -- stored labels that differ, or hold a line break -------------------------------------------

def test_a_problem_labelled_differently_in_two_stores_still_pairs(stores):
    """The same problem (same key: same name and resolved parameters) under two stored
    labels, as when a plug-in's label rule changed, or one store predates stored labels and
    its label is worked out from today's registry: paired, shown under the baseline's."""
    db = _edited(stores, "relabelled",
                 "UPDATE problems SET info=json_set(info, '$.label', 'quadratic-renamed')")
    for (a, b), shown in (((stores["base"], db), "quadratic-1d"),
                          ((db, stores["base"]), "quadratic-renamed")):
        table = _verdicts(a, b, names=["A", "B"])
        assert list(table["verdict"]) == ["no detectable change"]
        assert list(table["problem_label"]) == [shown]
        assert int(table["n"].iloc[0]) == 3


def test_a_line_break_in_a_stored_label_stays_on_one_line(stores, ob):
    db = _edited(stores, "line break",
                 "UPDATE problems SET info=json_set(info, '$.label', 'quad' || char(10) || 'ratic')",
                 "UPDATE runs SET seed = seed + 10")  # nothing pairs: the line lists the labels
    res = ob("report", "--db", f"A={stores['base']}", "--db", f"B={db}",
             "--html", str(db.parent / "r.html"))
    _one_line_refusal(res, "B compared with nothing in the baseline A",
                      "B holds 3 runs: quad\\nratic gd[lr=0.5/L] (seeds 10–12, budget 60)")
