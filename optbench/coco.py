"""Post-process a COCO export with cocopp, through a testbed for optbench's own problems.

``optbench export --format coco`` writes COCO's logging format with ``suite = 'optbench'``
in its ``.info`` headers: the problems are optbench's, not BBOB's, so cocopp must not read
them through its ``bbob`` testbed (whose reference data, "best 2009", describes BBOB's
functions in 2-40 dimensions). :func:`register_testbed` tells cocopp about the suite of one
export — the function ids, problem names and dimensions in its ``coco-map.json`` — with no
reference algorithm, and :func:`postprocess` runs cocopp's whole post-processing on it::

    from optbench.coco import postprocess
    postprocess("optbench-results/coco", "pp")   # every algorithm folder, HTML in pp/

An export of runs on COCO's own bbob functions (the ``bbob`` problems, through cocoex) is a
genuine ``bbob`` experiment instead: cocopp reads it with its own bbob testbed, as
``python -m cocopp FOLDER`` does, and :func:`postprocess` registers nothing for it. A store
holding both writes two experiments, ``bbob/`` and ``optbench/``; :func:`postprocess`
processes each into a subfolder of its output.

cocopp (``pip install 'optbench[coco]'``, or ``cocopp six``) is imported here only.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import UsageError

__all__ = ["BBOB_SUITE", "LOG_NAME", "SUITE", "postprocess", "register_testbed"]

SUITE = "optbench"
BBOB_SUITE = "bbob"  # COCO's own suite: exports of runs on the bbob problems
TESTBED = "OptbenchTestbed"
COCOPP_HINT = "post-processing needs cocopp: pip install 'optbench[coco]' (or cocopp six)"
LOG_NAME = "cocopp.log"  # what cocopp printed and warned, in its output folder
WARNING_PREFIX = "warning: "  # how a warning of cocopp's starts its line in the log


def _mapping(export_dir: Path) -> dict[str, Any]:
    path = export_dir / "coco-map.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"{str(export_dir)!r} has no coco-map.json; expected the folder written by "
            "optbench export --format coco"
        ) from None


def _offline(url, *args, **kwargs):
    raise OSError(f"optbench runs cocopp offline: not fetching {url}")


@contextlib.contextmanager
def _quiet_offline(log: IO[str] | None = None) -> Iterator[None]:
    """cocopp offline and quiet: its downloads (the data archives it looks up when imported,
    which optbench never uses) fail at once instead of reaching the network, and what it
    prints and warns goes to ``log`` (or nowhere)."""
    import urllib.request

    sink = log if log is not None else open(os.devnull, "w")  # noqa: SIM115
    saved = urllib.request.urlretrieve, urllib.request.urlopen
    archiving = sys.modules.get("cocopp.archiving")
    fetch = getattr(archiving, "_urlretrieve", None)
    for mod, name in ((urllib.request, "urlretrieve"), (urllib.request, "urlopen"),
                      (archiving, "_urlretrieve")):
        if mod is not None:
            setattr(mod, name, _offline)
    try:
        with (warnings.catch_warnings(), contextlib.redirect_stdout(sink),
              contextlib.redirect_stderr(sink)):
            warnings.simplefilter("ignore" if log is None else "always")
            if log is not None:
                warnings.showwarning = lambda m, c, f, n, *a, **k: print(  # noqa: ARG005
                    f"{WARNING_PREFIX}{c.__name__}: {m}", file=sink)
            yield
    finally:
        setattr(urllib.request, "urlretrieve", saved[0])  # noqa: B010
        setattr(urllib.request, "urlopen", saved[1])  # noqa: B010
        archiving = sys.modules.get("cocopp.archiving")  # imported meanwhile, perhaps
        if archiving is not None:  # cocopp's own fetcher back, for its users in this process
            fetch = fetch if fetch is not None else saved[0]
            setattr(archiving, "_urlretrieve", fetch)  # noqa: B010
        if log is None:
            sink.close()


def _import_cocopp():
    if "cocopp" in sys.modules:
        return sys.modules["cocopp"]
    try:
        with _quiet_offline():
            import cocopp
    except ImportError:
        raise UsageError(COCOPP_HINT) from None
    return cocopp


def register_testbed(export_dir: str | os.PathLike) -> type:
    """Make cocopp read ``suite = 'optbench'`` data as the problems of this export.

    Returns:
        The testbed class registered (cocopp instantiates it when it loads the data).
    """
    _import_cocopp()
    from cocopp import genericsettings
    from cocopp import testbedsettings as tbs

    mapping = _mapping(Path(export_dir))
    functions = {int(k): v for k, v in mapping["functions"].items()}
    fids = sorted(functions)
    names = {f: str(functions[f].get("name") or functions[f]["problem_key"]) for f in fids}
    dims = sorted({int(functions[f].get("dim") or 1) for f in fids})
    # cocopp's captions name exactly six dimensions: the export's, then unused ones
    shown = dims + [dims[-1] + k for k in range(1, 7 - len(dims))] if len(dims) < 6 else dims
    interest = {int(i): 1 for i in mapping.get("instances", [])} or None
    if interest and interest not in genericsettings.instancesOfInterest:
        genericsettings.instancesOfInterest.append(interest)

    class OptbenchTestbed(tbs.GECCOBBOBTestbed):
        """optbench's problems, as exported (no reference algorithm)."""

        settings = dict(
            tbs.GECCOBBOBTestbed.settings,
            name=SUITE,
            info_filename=None,
            shortinfo_filename=None,
            flex_navigation_json_file="",
            short_names=names,
            dimensions_to_display=tuple(shown),
            goto_dimension=dims[-1],
            rldDimsOfInterest=tuple(dims),
            # cocopp's table captions name exactly two dimensions
            tabDimsOfInterest=(dims[0], dims[-1]),
            functions_with_legend=(fids[0], fids[-1]),
            first_function_number=fids[0],
            last_function_number=fids[-1],
            reference_algorithm_filename=None,
            reference_algorithm_displayname=None,
            # the canned captions of a testbed without reference data (bbob-largescale's);
            # they still speak of functions f1-f24, as cocopp's captions all do
            scenario=tbs.scenario_largescalefixed,
            plots_on_main_html_page=[f"pprldmany_{d:02d}D_noiselessall.svg" for d in dims],
            # the export's instances (seed + 1), so cocopp's consistency check expects them
            instancesOfInterest=interest,
        )

        def __init__(self, target_values):
            super().__init__(target_values)
            for key, val in OptbenchTestbed.settings.items():
                setattr(self, key, val)
                if "target_values" in key or "targetsOfInterest" in key:
                    self.instantiate_attributes(target_values, [key])

        def info(self, fun_number=None):
            if fun_number is None:
                return self.__doc__
            return f"F{fun_number} {names.get(fun_number, '')}"

        def filter(self, dsl):
            return dsl

    setattr(tbs, TESTBED, OptbenchTestbed)
    tbs.suite_to_testbed[SUITE] = TESTBED
    # cocopp builds its current testbed once, when it first reads data, and keeps it: an
    # export registered earlier in this process (other functions, other instances) would
    # otherwise still be the one this export's data is read against
    tbs.reset_current_testbed()
    return OptbenchTestbed


def postprocess(
    export_dir: str | os.PathLike,
    output: str | os.PathLike = "ppdata",
    algorithms: list[str] | None = None,
) -> Path:
    """Run cocopp's full post-processing on an export; returns the output folder.

    Args:
        export_dir: the folder ``optbench export --format coco`` wrote.
        output: where cocopp writes its HTML pages, figures and tables.
        algorithms: the algorithm folders to compare (their names in ``coco-map.json``);
            all of them when None.
    """
    export_dir = Path(export_dir)
    mapping = _mapping(export_dir)
    if "parts" in mapping:  # a bbob experiment and one of optbench's problems, side by side
        out = Path(output)
        for part in mapping["parts"]:
            theirs = _mapping(export_dir / part)["algorithms"]
            mine = None if algorithms is None else [a for a in algorithms if a in theirs]
            if mine == []:
                continue
            postprocess(export_dir / part, out / part, mine)
        return out
    names = list(mapping["algorithms"]) if algorithms is None else list(algorithms)
    unknown = [a for a in names if a not in mapping["algorithms"]]
    if unknown:
        raise UsageError(
            f"no algorithm folder {unknown[0]!r} in {str(export_dir)!r}; expected some of "
            f"{sorted(mapping['algorithms'])}"
        )
    if not names:
        raise UsageError(f"{str(export_dir)!r} holds no algorithm folders to post-process")
    cocopp = _import_cocopp()
    if mapping.get("suite") != BBOB_SUITE:  # COCO's own suite: cocopp's bbob testbed reads it
        register_testbed(export_dir)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    gs = cocopp.genericsettings
    # cocopp's command sets its module-wide settings as it goes and never puts them back; a
    # process that reads data sets afterwards (a notebook, another export) must see them as
    # they were, so every setting is restored when the post-processing ends
    saved = {k: copy.copy(v) for k, v in vars(gs).items()
             if not k.startswith("_") and not isinstance(v, types.ModuleType) and not callable(v)}
    gs.interactive_mode = False
    # budgets below one evaluation cannot be read off data that starts at evaluation 1;
    # cocopp's factors (per dimension) start at 0.5, below one evaluation in 1-D
    dim = min(int(v.get("dim") or 1) for v in mapping["functions"].values())
    gs.single_runlength_factors = [f for f in gs.single_runlength_factors if f * dim >= 1]
    # legends show whole names: cocopp otherwise cuts them (to 14 characters in its ERT
    # figures), and "gd_lr=0.5_L" and "gd_lr=0.5_L_schedule=..." would read alike
    from cocopp.compall import ppfigs

    longest = max(9, *(len(a) for a in names))
    gs.len_of_names_in_pprldmany_legend = longest
    cut, ppfigs.legend_text_max_len = ppfigs.legend_text_max_len, longest
    try:
        with (out / LOG_NAME).open("w") as log, _quiet_offline(log):
            cocopp.rungeneric.main(["-o", str(out), *(str(export_dir / a) for a in names)])
    finally:
        for key, value in saved.items():
            setattr(gs, key, value)
        ppfigs.legend_text_max_len = cut
    return out
