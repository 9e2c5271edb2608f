"""Least squares on the user's own CSV file, identified by the file's content, not its name.

The file needs a header row; ``features`` and ``target`` name columns (default: the last
column is the target and every other column a feature). Only the named columns must be
numeric. The factory records the file's SHA-256 (``sha256-<hex>``) as ``content_hash`` in
:attr:`Problem.resolved`, so a run's identity changes when the data does; given as a
parameter, ``content_hash`` pins the data: a file that no longer matches is refused.
"""

from __future__ import annotations

from optbench import Problem, register_problem

from .linear_regression import make_least_squares, standardized

_MISSING = {"", "na", "nan", "n/a", "null", "none"}


def _read(path: str) -> tuple[bytes, list[str], list[tuple[int, list[str]]]]:
    """The file's bytes, its header and its data rows (with their line numbers)."""
    import csv
    import io
    from pathlib import Path

    p = Path(path).expanduser()
    if not p.is_file():
        why = "a folder" if p.is_dir() else "no such file"
        raise ValueError(f"path must name an existing CSV file, got {path!r} ({why})")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(
            f"path must name a UTF-8 text CSV file, got {path!r} (not UTF-8 text)"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"path must name a CSV file with a header row, got {path!r} (empty)")
    header = [h.strip() for h in rows[0][1]]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ValueError(
            f"path must name a CSV file with distinct column names, got {path!r} "
            f"(repeated: {', '.join(dupes)})"
        )
    return data, header, rows[1:]


def _column_values(path: str, header: list[str], rows, columns: list[str]):
    """The named columns as an (n, k) float array; one-line errors for bad cells."""
    import numpy as np

    idx = [header.index(c) for c in columns]
    out = np.empty((len(rows), len(idx)))
    for i, (line, row) in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(
                f"path {path!r} must have {len(header)} cells on every row like its "
                f"header, got {len(row)} on line {line}"
            )
        for j, (k, name) in enumerate(zip(idx, columns, strict=True)):
            cell = row[k].strip()
            if cell.lower() in _MISSING:
                raise ValueError(
                    f"path {path!r} must have no missing values in the columns used, "
                    f"got {cell!r} in column {name!r} on line {line}"
                )
            try:
                value = float(cell)
            except ValueError:
                raise ValueError(
                    f"path {path!r} must hold numbers in the columns used, got "
                    f"{cell!r} in column {name!r} on line {line}"
                ) from None
            if not np.isfinite(value):
                raise ValueError(
                    f"path {path!r} must hold finite numbers, got {cell!r} in column "
                    f"{name!r} on line {line}"
                )
            out[i, j] = value
    return out


@register_problem("linear-regression-csv", tags=("convex", "quadratic", "smooth", "unimodal"))
def linear_regression_csv(
    path: str,
    features: list[str] | None = None,
    target: str | None = None,
    standardize: bool = False,
    batch_size: int | None = None,
    content_hash: str | None = None,
) -> Problem:
    """Least squares on your CSV file in (w, b): target ~ features + bias; the data's SHA-256 is
    part of the run identity.
    """
    import hashlib

    import numpy as np

    if not isinstance(path, str) or not path:
        raise ValueError(f"path must be a file name, got {path!r}")
    data, header, rows = _read(path)
    # "sha256-<hex>" reads as a bare word in a spec (a hex digest may start with a digit)
    digest = "sha256-" + hashlib.sha256(data).hexdigest()
    if content_hash is not None and str(content_hash) != digest:
        raise ValueError(
            f"content_hash must be the SHA-256 of {path!r} ({digest}), got "
            f"{content_hash!r}: the file changed since the run was planned"
        )
    listing = ", ".join(header)
    if target is None:
        target = header[-1]
    target = str(target)
    if target not in header:
        raise ValueError(
            f"target must name a column of {path!r} (columns: {listing}), got {target!r}"
        )
    if features is None:
        features = [h for h in header if h != target]
    features = [str(c) for c in (features if isinstance(features, list | tuple) else [features])]
    unknown = [c for c in features if c not in header]
    if unknown or not features:
        raise ValueError(
            f"features must name one or more columns of {path!r} (columns: {listing}), "
            f"got {unknown or features}"
        )
    if target in features:
        raise ValueError(f"features must not include the target {target!r}, got {features}")
    if len(set(features)) != len(features):
        raise ValueError(f"features must not repeat a column, got {features}")
    need = len(features) + 1
    if len(rows) < need:
        raise ValueError(
            f"path {path!r} must have at least {need} data rows ({len(features)} "
            f"feature(s) + the bias), got {len(rows)}"
        )
    values = _column_values(path, header, rows, [*features, target])
    X, y = values[:, :-1], values[:, -1]
    if standardize:
        if np.any(X.std(axis=0) == 0):
            const = [c for c, s in zip(features, X.std(axis=0), strict=True) if s == 0]
            raise ValueError(
                f"features must vary to be standardized, got constant column(s) {const}"
            )
        X = standardized(X)
    A = np.column_stack([X, np.ones(len(y))])
    what = f"least squares of {target!r} on {', '.join(map(repr, features))} from {path}" + (
        ", standardized" if standardize else ""
    )
    return make_least_squares(A, y, batch_size, description=what, resolved={"content_hash": digest})
