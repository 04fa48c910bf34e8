"""Searching files for a secret however it was written: as text, UTF-16, hex, base64 at each
alignment, inside gzip files and inside Parquet values (pages are compressed, so Parquet files are
read back with pyarrow). Used by the secrets hygiene tests and the whole-pipeline cluster test."""
from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq


def traces(secret: str) -> dict[str, bytes]:
    """The byte strings that would betray `secret`: as text, UTF-16, hex, and base64 at each of
    the three alignments it could have inside a longer encoded blob (the stable middle part)."""
    raw = secret.encode()
    found = {"text": raw, "utf-16": secret.encode("utf-16-le"), "hex": raw.hex().encode(),
             "HEX": raw.hex().upper().encode()}
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw)
        middle = encoded[4 if offset else 0:-4]
        found[f"base64+{offset}"] = middle
        found[f"base64url+{offset}"] = middle.replace(b"+", b"-").replace(b"/", b"_")
    return found


def readable_forms(path: Path) -> Iterator[bytes]:
    """The file's bytes, and what a compressed container holds (gzip's content, Parquet's values)."""
    data = path.read_bytes()
    yield data
    if data[:2] == b"\x1f\x8b":
        yield gzip.decompress(data)
    if path.suffix == ".parquet" and data[:4] == b"PAR1":
        yield repr(pq.read_table(path).to_pylist()).encode()


def leaks(folder: Path, secrets_by_name: dict[str, str]) -> list[str]:
    """`<file>: <secret> as <form>` for every trace of a secret in any file under `folder`."""
    patterns = {name: traces(value) for name, value in secrets_by_name.items()}
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        for data in readable_forms(path):
            found += [f"{path.relative_to(folder)}: {name} as {form}" for name, forms in patterns.items()
                      for form, trace in forms.items() if trace in data]
    return found
