"""Bundles: a store, its report, its specs and its environment in one zip file, read in place.

A bundle (``optbench export --format bundle --dest FILE.zip``) holds:

* ``results.sqlite``: the store, copied through SQLite's backup (a store being written is
  copied whole, its write-ahead log included) into one self-contained file;
* ``results.tuning.json``: the tuning record beside the store (``optbench tune``), if any;
* ``report.html``: the report of the store (references leave it out);
* ``spec.toml``: the specs the store's sessions ran, as a TOML file ``optbench run``
  accepts (``spec-1.toml``, ``spec-2.toml``, ... when its sessions ran different specs);
* ``environment.json``: each session's command, host and recorded versions;
* ``manifest.json``: the sha256 of every other member, the results version
  (:data:`optbench.store.RESULTS_VERSION`) and the optbench version that wrote it.

:mod:`optbench.bundle_writer` writes them. Every reader of a store reads a bundle:
:class:`optbench.store.Store` passes its path through :func:`resolve`, which checks the
bundle against its manifest (a member changed, added or missing is a one-line
:class:`~optbench.errors.StoreError` naming it), copies the store out once per process
into a private temporary folder (SQLite cannot read inside a zip), read-only, and returns
that copy's path. Nothing is ever written into or beside the bundle; writing to one is
refused.

``reference:NAME`` names a built-in reference (``optbench/references/NAME.zip``, made by
``scripts/make_references.py``): a bundle without the report whose traces are thinned
further (:func:`optbench.bundle_writer.write_bundle`'s ``thin``). A reference of another
results version than this optbench's is refused: its numbers would differ from a fresh
run's.
"""

from __future__ import annotations

import atexit
import contextlib
import difflib
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from .errors import StoreError, UsageError

__all__ = [
    "ENVIRONMENT",
    "MANIFEST",
    "REPORT",
    "STORE",
    "TUNING",
    "REFERENCE",
    "available_references",
    "is_bundle",
    "read_manifest",
    "reference_path",
    "resolve",
]

FORMAT = "optbench-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STORE = "results.sqlite"
TUNING = "results.tuning.json"
REPORT = "report.html"
ENVIRONMENT = "environment.json"
REFERENCE = "reference:"  # the prefix naming a built-in reference: reference:default
REFERENCES = Path(__file__).resolve().parent / "references"
_EXTRACTED = (STORE, TUNING)  # the members copied out for the readers
_ZIP_MAGIC = b"PK\x03\x04"


def is_bundle(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a bundle: ``reference:NAME``, a ``.zip`` name, or a file that
    starts as a zip does."""
    text = os.fspath(path)
    if text.startswith(REFERENCE) and not os.path.exists(text):
        return True
    if os.path.isdir(text):  # an output folder, whatever its name
        return False
    if text.lower().endswith(".zip"):
        return True
    try:
        with open(text, "rb") as fh:
            return fh.read(4) == _ZIP_MAGIC
    except OSError:
        return False


def resolve(
    path: str | os.PathLike, write: bool = False, results_version: int | None = None
) -> Path:
    """The path a store reader opens for ``path``: ``path`` itself for a store, the
    verified, read-only copy of its store for a bundle or ``reference:NAME``. ``write``:
    the caller is about to write, which a bundle refuses. ``results_version``: this
    optbench's (:data:`optbench.store.RESULTS_VERSION`), which a reference must hold."""
    if not is_bundle(path):
        return Path(path)
    text = os.fspath(path)
    if write:
        raise StoreError(
            f"{text!r} is a bundle, which is read-only: expected a folder for the store "
            "(--out DIR); a bundle is read as it is (optbench report --db NAME=FILE.zip)"
        )
    zpath = _reference_file(text) if text.startswith(REFERENCE) and not os.path.exists(
        text) else Path(text)
    if not zpath.is_file():
        raise StoreError(
            f"no bundle at {text!r}; expected a .zip written by 'optbench export --format "
            "bundle'"
        )
    st = zpath.stat()
    key = (str(zpath.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    hit = _OPENED.get(key)
    if hit is None or not hit.is_file():
        hit = _OPENED[key] = _open(zpath, text, results_version)
    return hit


_OPENED: dict[tuple[Any, ...], Path] = {}  # (bundle, its size, mtime, inode) -> its store
_ROOT: list[tuple[int, Path]] = []  # (pid, this process's private folder of opened bundles)


def _private_folder() -> Path:
    """A folder only this process uses (mode 0700), removed when it exits (not by a forked
    child, which shares the parent's)."""
    if not _ROOT or _ROOT[0][0] != os.getpid():
        root = Path(tempfile.mkdtemp(prefix="optbench-bundles-"))
        _ROOT[:] = [(os.getpid(), root)]
        _OPENED.clear()  # a forked child's copies belong to its parent
        atexit.register(_remove, root, os.getpid())
    return Path(tempfile.mkdtemp(dir=_ROOT[0][1]))


def _remove(root: Path, pid: int) -> None:
    if os.getpid() == pid:  # not in a forked child: the folder is its parent's
        shutil.rmtree(root, ignore_errors=True)


def read_manifest(path: str | os.PathLike, what: str | None = None) -> dict[str, Any]:
    """A bundle's manifest, unchecked (:func:`resolve` checks the members against it)."""
    what = what or os.fspath(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return _manifest(zf, what)
    except (OSError, zipfile.BadZipFile) as exc:
        raise StoreError(
            f"{what!r} is not a readable bundle ({exc}); expected a .zip written by "
            "'optbench export --format bundle'"
        ) from None


def _manifest(zf: zipfile.ZipFile, what: str) -> dict[str, Any]:
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except KeyError:
        raise StoreError(
            f"{what!r} is not an optbench bundle (it has no {MANIFEST}); expected a .zip "
            "written by 'optbench export --format bundle'"
        ) from None
    except ValueError as exc:
        raise StoreError(f"bundle {what!r} has a damaged {MANIFEST} ({exc})") from None
    if (not isinstance(manifest, dict) or manifest.get("format") != FORMAT
            or not isinstance(manifest.get("members"), dict)):
        raise StoreError(
            f"{what!r} is not an optbench bundle (its {MANIFEST} is not a bundle's); "
            "expected a .zip written by 'optbench export --format bundle'"
        )
    return manifest


def _open(zpath: Path, what: str, results_version: int | None) -> Path:
    """Check every member of a bundle against its manifest and copy out its store (and
    tuning record) into a private folder, read-only; returns the store's copy."""
    try:
        with zipfile.ZipFile(zpath) as zf:
            manifest = _manifest(zf, what)
            ref = manifest.get("reference")
            held = manifest.get("results_version")
            if ref is not None and results_version is not None and held != results_version:
                name = ref.get("name", zpath.stem) if isinstance(ref, dict) else zpath.stem
                raise StoreError(
                    f"reference {name!r} holds results version {held}, this optbench "
                    f"computes results version {results_version}: its numbers would differ "
                    "from a fresh run's; regenerate it with 'python "
                    "scripts/make_references.py' (docs/store.md#reference-results)"
                )
            listed = manifest["members"]
            present = [n for n in zf.namelist() if n != MANIFEST]
            extra = sorted(set(present) - set(listed))
            if extra:
                raise StoreError(
                    f"bundle {what!r} holds {extra[0]!r}, which its manifest does not list: "
                    "it was changed after it was written; expected an unchanged bundle"
                )
            if STORE not in listed:
                raise StoreError(f"bundle {what!r} lists no {STORE} in its manifest")
            folder = _private_folder()
            for name in sorted(listed):
                expected = listed[name].get("sha256") if isinstance(listed[name], dict) else None
                if name not in present:
                    raise StoreError(
                        f"bundle {what!r} lacks {name!r}, which its manifest lists: it was "
                        "changed after it was written; expected an unchanged bundle"
                    )
                target = folder / name if name in _EXTRACTED else None
                if _copy_hashed(zf, name, target) != expected:
                    raise StoreError(
                        f"bundle {what!r} was changed after it was written: its member "
                        f"{name!r} does not match the sha256 in its manifest; expected an "
                        "unchanged bundle (export it again)"
                    )
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise StoreError(
            f"{what!r} is not a readable bundle ({exc}); expected a .zip written by "
            "'optbench export --format bundle'"
        ) from None
    for name in _EXTRACTED:
        if (folder / name).exists():
            (folder / name).chmod(0o444)
    return folder / STORE


def _copy_hashed(zf: zipfile.ZipFile, name: str, target: Path | None) -> str:
    """The sha256 of a member, copied to ``target`` on the way where given."""
    digest = hashlib.sha256()
    with zf.open(name) as src, (open(target, "wb") if target else contextlib.nullcontext()) as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            if dst is not None:
                dst.write(chunk)
    return digest.hexdigest()


# -- the built-in references -----------------------------------------------------------------


def available_references() -> dict[str, dict[str, Any]]:
    """``name -> manifest`` of the built-in references, by name."""
    out = {}
    for p in sorted(REFERENCES.glob("*.zip")):
        out[p.stem] = read_manifest(p, f"{REFERENCE}{p.stem}")
    return out


def reference_path(name: str) -> Path:
    """The file of the built-in reference ``name``; a one-line error naming the others."""
    path = REFERENCES / f"{name}.zip"
    if not name or "/" in name or "\\" in name or not path.is_file():
        known = sorted(p.stem for p in REFERENCES.glob("*.zip"))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {REFERENCE}{close[0]}?" if close else ""
        raise UsageError(
            f"no built-in reference {name!r}{hint} (expected one of "
            f"{', '.join(REFERENCE + k for k in known) or 'none'}: optbench list baselines)"
        )
    return path


def _reference_file(text: str) -> Path:
    return reference_path(text[len(REFERENCE):])


