"""The store's archive reader (optbench.store.codecs.unpack_trace) against numpy.load with
allow_pickle=False: the same arrays (dtype, shape, order, values, writable) from optbench's
writer and from numpy's own savez, and the same refusals of damaged or pickled data."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from optbench.errors import StoreError
from optbench.store import codecs


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "f": rng.normal(size=1000),
        "n_f": np.arange(1000, dtype=np.int64),
        "ok": rng.random(7) < 0.5,
        "label": np.array(["gd", "adam", "scipy-bfgs"]),
        "c": np.array([1 + 2j, 3 - 4j]),
        "scalar": np.array(3.5),
        "empty": np.zeros((0, 3)),
        "x": rng.normal(size=(40, 3)),
        "fortran": np.asfortranarray(rng.normal(size=(5, 4))),
        "big_endian": np.arange(6, dtype=">f8").reshape(2, 3),
        "f32": np.linspace(0, 1, 9, dtype=np.float32),
    }


def _numpy(data: bytes, keys=None) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in (z.files if keys is None else keys) if k in z.files}


def _same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for k, w in want.items():
        g = got[k]
        assert g.dtype == w.dtype and g.shape == w.shape, k
        assert g.flags.f_contiguous == w.flags.f_contiguous, k
        assert g.flags.writeable, k
        np.testing.assert_array_equal(g, w, err_msg=k)


def _savez(compressed: bool) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **_arrays())
    return buf.getvalue()


@pytest.mark.parametrize("writer", ["optbench", "savez", "savez_compressed"])
def test_reads_what_numpy_load_reads(writer):
    data = {"optbench": lambda: codecs.pack_trace(_arrays()), "savez": lambda: _savez(False),
            "savez_compressed": lambda: _savez(True)}[writer]()
    _same(codecs.unpack_trace(data), _numpy(data))
    _same(codecs.unpack_trace(data), _arrays())
    keys = ["x", "missing", "f"]
    _same(codecs.unpack_trace(data, keys), _numpy(data, keys))


def test_header_versions_two_and_three():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, version in (("v1", (1, 0)), ("v2", (2, 0)), ("v3", (3, 0))):
            with zf.open(f"{name}.npy", "w") as fh:
                np.lib.format.write_array(fh, np.arange(5.0) * version[0], version=version)
    data = buf.getvalue()
    _same(codecs.unpack_trace(data), _numpy(data))


def _one_member(raw: bytes, name: str = "a.npy", stored: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, raw)
    return buf.getvalue()


def _npy(a: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


@pytest.mark.parametrize("stored", [True, False])
def test_a_changed_byte_is_refused_as_numpy_refuses_it(stored):
    data = bytearray(_one_member(_npy(np.zeros(64)), stored=stored))
    data[-120] ^= 0xFF  # inside the member's data, before the central directory
    for read in (codecs.unpack_trace, _numpy):
        with pytest.raises((zipfile.BadZipFile, ValueError, OSError, EOFError)):
            read(bytes(data))
    with pytest.raises(StoreError, match="is corrupt: its trace is not a numpy archive"):
        codecs.read_trace("s.sqlite", "r1", bytes(data))


def test_object_arrays_and_foreign_members_are_refused_or_left_to_numpy():
    pickled = _one_member(_npy(np.array([{"a": 1}], dtype=object), allow_pickle=True))
    with pytest.raises(ValueError, match="Object arrays"):
        codecs.unpack_trace(pickled)
    with pytest.raises(StoreError, match="holds pickled objects"):
        codecs.read_trace("s.sqlite", "r1", pickled)
    truncated = _one_member(_npy(np.arange(10.0))[:-8])
    with pytest.raises(ValueError):
        codecs.unpack_trace(truncated)
    with pytest.raises(StoreError, match="not a numpy archive"):
        codecs.read_trace("s.sqlite", "r1", truncated)
    # a member that is not .npy: numpy.load's answer (its raw bytes under the full name)
    other = _one_member(b"hello", name="note.txt")
    assert codecs.unpack_trace(other) == _numpy(other) == {"note.txt": b"hello"}
