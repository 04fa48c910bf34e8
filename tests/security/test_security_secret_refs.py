"""Secret references resolve to bytes; the values never show in reprs or errors."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lakehouse.config import SecretRef
from lakehouse.errors import ConfigError
from lakehouse.security.secret_refs import resolve


def test_key_file_is_created_once_private_and_stable(tmp_path: Path) -> None:
    ref = SecretRef(file=str(tmp_path / "s" / "key"), create_if_missing=True)
    first = resolve(ref)
    assert len(first) == 64 and resolve(ref) == first
    assert stat.S_IMODE(os.stat(tmp_path / "s" / "key").st_mode) == 0o600


def test_missing_key_file_without_create_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="secret key file not found"):
        resolve(SecretRef(file=str(tmp_path / "nope")))


def test_env_reference_and_its_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LH_TEST_SECRET", "s3cr3t-value")
    ref = SecretRef(env="LH_TEST_SECRET")
    assert resolve(ref) == b"s3cr3t-value"
    assert "s3cr3t" not in repr(ref)
    monkeypatch.delenv("LH_TEST_SECRET")
    with pytest.raises(ConfigError, match="LH_TEST_SECRET is not set"):
        resolve(ref)
