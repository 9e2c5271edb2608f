"""Make optbench's built-in reference results (``optbench/references/NAME.zip``).

Each reference is a bundle (``optbench export --format bundle``) without the report: the
store of one fixed spec, every trace thinned to about :data:`POINTS` iterates (metrics were
computed from the full traces and are kept whole), tagged with the results version of the
optbench that ran it. ``--db reference:NAME`` reads one; an optbench of another results
version refuses it, so rerun this script whenever ``RESULTS_VERSION`` or the default suite
changes::

    python scripts/make_references.py            # every reference
    python scripts/make_references.py default    # only these

The runs are deterministic (run identity and seeding: docs/architecture.md): the same
optbench, numpy, scipy and torch give the same numbers on any machine. ``torch-defaults``
needs torch (``optbench[torch]``) and scikit-learn (``optbench[data]``: the ML tier's real
datasets). It takes about a minute on a 2-core laptop. See
docs/store.md#reference-results.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import optbench
from optbench import suite
from optbench.bundle import REFERENCES
from optbench.bundle_writer import write_bundle

POINTS = 48  # iterates kept per trace: the first 12, then log-spaced ones and the last

TORCH_DEFAULTS = [  # torch.optim at its library defaults (lr=1e-3 in each)
    "torch[cls=torch.optim.SGD]",
    "torch[cls=torch.optim.SGD,momentum=0.9]",
    "torch[cls=torch.optim.Adam]",
    "torch[cls=torch.optim.AdamW]",
]


def _default() -> list[dict]:
    """The default suite, exactly as ``optbench run`` with no arguments runs it."""
    return [{}]


def _torch_defaults() -> list[dict]:
    """torch.optim's SGD, SGD with momentum 0.9, Adam and AdamW at library defaults on the
    default suite's problems (its seeds and budget) and on the ML tier (``--suite ml``: its
    problems, seeds and budget)."""
    from optbench.extras import installed

    for module, extra in (("torch", "torch"), ("sklearn", "data")):
        if not installed(module):
            sys.exit(f"make_references: torch-defaults needs {module}: "
                     f"pip install 'optbench[{extra}]'")
    default, ml = suite.DEFAULT_SUITE, suite.ml_suite()
    return [
        {"problems": default["problems"], "optimizers": TORCH_DEFAULTS,
         "seeds": default["seeds"], "budget": default["budget"]},
        {"problems": ml["problems"], "optimizers": TORCH_DEFAULTS,
         "seeds": ml["seeds"], "budget": ml["budget"]},
    ]


REFERENCES_MADE = {
    "default": (
        "the default suite (optbench run with no arguments): all its problems, optimizers, "
        "sweeps and seeds",
        _default,
    ),
    "torch-defaults": (
        "torch.optim SGD, SGD with momentum 0.9, Adam and AdamW at library defaults, on the "
        "default suite's problems and the ML tier (--suite ml)",
        _torch_defaults,
    ),
}


def make(name: str, dest: Path = REFERENCES) -> Path:
    """Run reference ``name``'s specs into a fresh store and write it as ``dest/NAME.zip``."""
    description, specs = REFERENCES_MADE[name]
    with tempfile.TemporaryDirectory(prefix=f"optbench-reference-{name}-") as tmp:
        runs = []
        for spec in specs():
            res = optbench.run(spec, out=tmp, report=False, anonymous=True,
                               command=f"scripts/make_references.py {name}")
            if res.n_failed or res.n_missing:
                sys.exit(f"make_references: {name}: {res.n_failed} runs failed, "
                         f"{res.n_missing} missing; not writing a reference")
            runs.append(res.runs)
        import pandas as pd

        frame = pd.concat(runs, ignore_index=True)
        from optbench.store import Store
        from optbench.sweeps import main_mask

        with Store(Path(tmp) / "results.sqlite") as store:
            main = main_mask(frame, store.sessions()).to_numpy()
        holds = {
            "runs": len(frame),
            "problems": list(dict.fromkeys(frame["problem_label"])),
            # the main cross product's; the labels only a sweep ran are counted apart
            "optimizers": list(dict.fromkeys(frame.loc[main, "label"])),
            "sweeps": {"runs": int((~main).sum()), "pairings": len(
                frame.loc[~main, ["problem_label", "label"]].drop_duplicates())},
            "seeds": sorted(int(s) for s in frame["seed"].unique()),
            "budgets": sorted(int(b) for b in frame["budget"].dropna().unique()),
        }
        reference = {
            "name": name,
            "description": description,
            "holds": holds,
            "made_by": "scripts/make_references.py",
            "thinned_to": POINTS,
        }
        return write_bundle(Path(tmp) / "results.sqlite", dest / f"{name}.zip", report=False,
                            thin=POINTS, reference=reference)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"the references to make: {', '.join(REFERENCES_MADE)} "
                        "[default: all]")
    parser.add_argument("--dest", type=Path, default=REFERENCES,
                        help="the folder to write NAME.zip into [default: the package's]")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in REFERENCES_MADE]
    if unknown:
        parser.error(f"no reference {unknown[0]!r}; expected one of {', '.join(REFERENCES_MADE)}")
    for name in args.names or list(REFERENCES_MADE):
        path = make(name, args.dest)
        print(f"{path} ({path.stat().st_size / 1e6:.2f} MB)")
    total = sum(p.stat().st_size for p in args.dest.glob("*.zip"))
    print(f"references in {args.dest}: {total / 1e6:.2f} MB in all")


if __name__ == "__main__":
    main()
