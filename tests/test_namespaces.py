"""The probe behind the read-only and full-disk tests (``tests/test_bad_input.py``): where
``unshare`` is missing or namespaces are blocked, those tests skip with a reason that says
which, rather than erroring out or skipping unexplained."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.test_bad_input import _namespace


def _fake_unshare(folder: Path, body: str) -> None:
    tool = folder / "unshare"
    tool.write_text(f"#!/bin/sh\n{body}\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)


def test_without_unshare_the_skip_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no unshare on PATH
    with pytest.raises(pytest.skip.Exception, match=r"`unshare` \(util-linux\) is not on PATH"):
        _namespace("true", tmp_path)


def test_blocked_namespaces_skip_with_the_reason_given(tmp_path, monkeypatch):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    _fake_unshare(bin_, "echo 'unshare: unshare failed: Operation not permitted' >&2; exit 1")
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(pytest.skip.Exception,
                       match="namespaces are blocked.*exited 1: unshare: unshare failed: "
                             "Operation not permitted"):
        _namespace("true", tmp_path)


def test_a_mount_refused_inside_the_namespace_skips_too(tmp_path, monkeypatch):
    # unshare itself works, the mount the tests need does not (as in some containers)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    _fake_unshare(bin_, "echo 'mount: permission denied' >&2; exit 32")
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(pytest.skip.Exception, match="exited 32: mount: permission denied"):
        _namespace("true", tmp_path)
