"""What a landing file must be for a source to take it: its folder, name, size and format.

Judged from what is known before the file is read: its key under the landing root, its size and
its first bytes (`HEAD_BYTES`). Pure Python, no Spark: the S3-event Lambda
(`lakehouse.trigger.s3_events`) and ingest judge a file the same way, and a rejected file goes to
the same place under both (`rejected_key`, `reason_key`).

Text sources (JSON lines, CSV) may arrive compressed with any codec Spark's text reader decodes by
the file's extension (checked against PySpark 4.1.1 with its Hadoop 3.4.2): `.gz`, `.bz2`,
`.deflate` (zlib), `.zst`/`.zstd`, and Hadoop's block framing of `.lz4` and `.snappy` (what Spark
itself writes; the `lz4` tool's frame format and Snappy's framing format are not read by Spark).
"""
from __future__ import annotations

import bz2
import codecs
import csv
import io
import json
import posixpath
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

# How much of a file `check` wants to see, and how much of a compressed head it inflates.
HEAD_BYTES = 64 * 1024

MiB = 1024 * 1024
GiB = 1024 * MiB

# The header of an office report, CSV or Excel (docs/CONTRACT.md).
REPORT_COLUMNS = ["report_date", "office_id", "staffed_hours", "appointments_scheduled",
                  "appointments_attended", "notes"]

# Rule names a verdict gives (stable: logs, reason objects and ops name them).
UNKNOWN_FOLDER = "unknown_folder"
HIDDEN_NAME = "hidden_name"
NAME_PATTERN = "name_pattern"
EMPTY_FILE = "empty_file"
TOO_LARGE = "too_large"
NOT_COMPRESSED_AS_NAMED = "not_compressed_as_named"
NOT_UTF8 = "not_utf8"
NOT_JSON_LINES = "not_json_lines"
CSV_HEADER = "csv_header"
NOT_XLSX = "not_xlsx"


@dataclass(frozen=True)
class Kind:
    """A landing sub-folder: the names it takes, the largest file, and the format of its content."""
    folder: str
    patterns: tuple[str, ...]  # file name patterns (case-sensitive, as Spark's `pathGlobFilter`)
    max_bytes: int
    why_max: str  # what the limit protects, for the reason of a file over it
    opaque: bool = False  # its bytes are kept as they are (documents): no format, no codec


# A whole JSON-lines file is one row of Spark's whole-text read (`sources/landing.py`): a JVM array
# holds under 2 GiB, so the limit leaves room for what compression saves. Office reports are parsed
# on the driver. A document is read by Spark's binaryFile source, whose row holds at most 2 GiB - 1.
KINDS: dict[str, Kind] = {
    "events": Kind("events", ("*.jsonl", "*.json"), 512 * MiB, "a file is read whole, as one row"),
    "office_reports": Kind("office_reports", ("*.csv", "*.xlsx"), 64 * MiB, "reports are parsed on the driver"),
    "device_logs": Kind("device_logs", ("*.jsonl", "*.json"), 512 * MiB, "a file is read whole, as one row"),
    "documents": Kind("documents", ("*",), 2 * GiB - 1, "Spark's binaryFile source reads at most 2 GiB - 1",
                      opaque=True),
}

# The file formats that may come compressed, by the extension of the name under the codec's.
TEXT_EXTENSIONS = (".jsonl", ".json", ".csv")


@dataclass(frozen=True)
class Verdict:
    """Whether a landing file is taken, by which source kind, and if not, the rule and why.

    `reason` is one line naming the rule; it never quotes the file's content (personal data).
    """
    ok: bool
    kind: str | None
    codec: str | None = None  # the compression extension (".gz", ...) of an accepted text file
    rule: str | None = None
    reason: str = ""

    def describe(self) -> str:
        return f"accepted as {self.kind}" if self.ok else self.reason


def _reject(kind: str | None, rule: str, why: str) -> Verdict:
    return Verdict(False, kind, rule=rule, reason=f"{rule}: {why}")


@dataclass(frozen=True)
class _Content:
    """The (decompressed) first bytes of a file, and whether they are all of it."""
    data: bytes
    whole: bool


def _inflating(ext: str, fmt: str, looks_right: Callable[[bytes], bool],
               inflater: Callable[[], Any]) -> Callable[[bytes, bool], _Content | str]:
    """A codec Python's standard library inflates: its magic checked, then its head inflated."""
    def check(head: bytes, whole: bool) -> _Content | str:
        if not looks_right(head):
            return f"named {ext} but not {fmt}"
        stream = inflater()
        try:
            data = stream.decompress(head, HEAD_BYTES)
        except (zlib.error, OSError):
            return f"named {ext} but not a readable {fmt} stream"
        return _Content(data, whole and stream.eof and not stream.unused_data)
    return check


def _zlib_header(head: bytes) -> bool:
    # Hadoop's DefaultCodec writes a zlib stream: method 8, and the header's check bits.
    return len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] * 256 + head[1]) % 31 == 0


def _zstd(head: bytes, whole: bool) -> None | str:
    return None if head[:4] == b"\x28\xb5\x2f\xfd" else "named .zst but not Zstandard (no zstd magic number)"


def _hadoop_blocks(name: str, foreign: bytes, foreign_name: str) -> Callable[[bytes, bool], None | str]:
    """Hadoop's block framing (Lz4Codec, SnappyCodec): big-endian uncompressed and compressed lengths."""
    def check(head: bytes, whole: bool) -> None | str:
        if head.startswith(foreign):
            return f"{foreign_name}, which Spark does not read: write {name} with Hadoop's codec (Spark's own)"
        raw = int.from_bytes(head[:4], "big")
        block = int.from_bytes(head[4:8], "big")
        if len(head) < 8 or raw == 0 or block == 0 or block > raw + raw // 2 + 1024:
            return f"named {name} but not Hadoop's {name} block framing"
        return None
    return check


# extension -> its check: the decompressed head, or None when it cannot be inflated here, or why not
CODECS: dict[str, Callable[[bytes, bool], _Content | None | str]] = {
    ".gz": _inflating(".gz", "gzip", lambda head: head[:2] == b"\x1f\x8b", lambda: zlib.decompressobj(wbits=31)),
    ".bz2": _inflating(".bz2", "bzip2", lambda head: head[:3] == b"BZh", bz2.BZ2Decompressor),
    ".deflate": _inflating(".deflate", "zlib", _zlib_header, zlib.decompressobj),
    ".zst": _zstd,
    ".zstd": _zstd,
    ".lz4": _hadoop_blocks(".lz4", b"\x04\x22\x4d\x18", "the LZ4 frame format (the lz4 tool's)"),
    ".snappy": _hadoop_blocks(".snappy", b"\xff\x06\x00\x00sNaPpY", "Snappy's framing format"),
}


def _hidden(relative_key: str) -> bool:
    """Spark's file listing skips names that start with `_` or `.` (and uploads in progress)."""
    return any(part.startswith(("_", ".")) or part.endswith("._COPYING_") for part in relative_key.split("/"))


def _split_codec(kind: Kind, name: str) -> tuple[str, str | None]:
    """A text file's name without its compression extension, and that extension."""
    stem, ext = posixpath.splitext(name)
    if not kind.opaque and ext in CODECS and stem.endswith(TEXT_EXTENSIONS):
        return stem, ext
    return name, None


def _lines(content: _Content) -> list[tuple[str, bool]] | Verdict:
    """The non-blank lines of the head, each with whether it is complete; a verdict when the text
    is not UTF-8 or the file has no line at all."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(content.data, final=content.whole)
    except UnicodeDecodeError:
        return _reject(None, NOT_UTF8, "not UTF-8 text")
    lines = text.removeprefix("\ufeff").split("\n")
    found = [(line.rstrip("\r"), n < len(lines) - 1 or content.whole) for n, line in enumerate(lines) if line.strip()]
    return _reject(None, EMPTY_FILE, "no line in the file") if not found and content.whole else found


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _json_lines(content: _Content) -> Verdict | None:
    """JSON lines when a line of the head is a JSON object: a bad line among good ones is bronze's
    to keep (with `_parse_error`), not a reason to refuse the file."""
    lines = _lines(content)
    if isinstance(lines, Verdict):
        return lines
    complete = [line for line, whole in lines if whole]
    if not complete:  # no line ends within the head: it must at least start an object
        ok = not lines or lines[0][0].lstrip().startswith("{")
        return None if ok else _reject(None, NOT_JSON_LINES, "the first line does not start a JSON object")
    if any(_is_object(line) for line in complete):
        return None
    return _reject(None, NOT_JSON_LINES, f"none of the first {len(complete):,} lines is a JSON object")


def _csv_header(content: _Content) -> Verdict | None:
    lines = _lines(content)
    if isinstance(lines, Verdict):
        return lines
    if not lines:
        return None  # only blanks in the head of a longer file
    line, complete = lines[0]
    if not complete:
        return _reject(None, CSV_HEADER, f"no end of the header line in the first {HEAD_BYTES:,} bytes")
    # Excel writes `;` between fields in locales whose decimal mark is a comma, a tab in its "Text"
    # export: any of the three delimiters bronze reads (lakehouse.bronze.office_reports.DIALECTS).
    headers = [[h.strip().lower().lstrip("\ufeff") for h in next(csv.reader([line], delimiter=d))] for d in ",;\t"]
    if REPORT_COLUMNS not in headers:
        header = headers[0]
        # the count only: a file without a header would show a data row here
        return _reject(None, CSV_HEADER, f"the header's {len(header)} columns are not the contract's "
                                         f"{', '.join(REPORT_COLUMNS)}")
    return None


def _xlsx(head: bytes, whole: bool) -> Verdict | None:
    if not head.startswith(b"PK\x03\x04"):
        return _reject(None, NOT_XLSX, "not an xlsx workbook (not a zip file)")
    if whole:
        try:
            names = zipfile.ZipFile(io.BytesIO(head)).namelist()
        except zipfile.BadZipFile:
            return _reject(None, NOT_XLSX, "not an xlsx workbook (a broken zip file)")
        if "xl/workbook.xml" not in names:
            return _reject(None, NOT_XLSX, "a zip file but not an Excel workbook (no xl/workbook.xml)")
    elif b"xl/" not in head:
        return _reject(None, NOT_XLSX, "a zip file but not an Excel workbook (no workbook parts at its start)")
    return None


def _format(name: str, content: _Content) -> Verdict | None:
    if name.endswith(".csv"):
        return _csv_header(content)
    if name.endswith(".xlsx"):
        return _xlsx(content.data, content.whole)
    if name.endswith((".jsonl", ".json")):
        return _json_lines(content)
    return None


def check(relative_key: str, size: int, head: bytes) -> Verdict:
    """The verdict on a landing file from its key under the landing root, its size and first bytes.

    Args:
        relative_key: the path under the landing root, e.g. ``events/2026-10-01/part-1.jsonl.gz``.
        size: the file's size in bytes.
        head: its first bytes (`HEAD_BYTES` of them, or the whole file when it is smaller).

    Example: ``check("events/a.jsonl.gz", 120, b"{...")`` -> not ok, rule ``not_compressed_as_named``.
    """
    return by_name(relative_key, size) or _by_content(relative_key, size, head)


def by_name(relative_key: str, size: int) -> Verdict | None:
    """The verdict when the key and size alone decide it (a refused folder, name or size, or a
    document, whose bytes have no format); None when it takes the file's first bytes (`check`)."""
    folder, _, rest = relative_key.strip("/").partition("/")
    kind = KINDS.get(folder)
    if kind is None or not rest:
        known = ", ".join(f"{k}/" for k in KINDS)
        return _reject(None, UNKNOWN_FOLDER, f"not in a source folder of landing ({known})")
    if _hidden(rest):
        return _reject(folder, HIDDEN_NAME, "a name starting with '_' or '.' is skipped by Spark's file listing")
    name, codec = _split_codec(kind, posixpath.basename(rest))
    if not any(fnmatchcase(name, p) for p in kind.patterns):
        also = "" if kind.opaque else f", text optionally compressed ({' '.join(CODECS)})"
        return _reject(folder, NAME_PATTERN, f"{folder}/ takes {' '.join(kind.patterns)}{also}")
    if size <= 0:
        return _reject(folder, EMPTY_FILE, "the file has no bytes")
    if size > kind.max_bytes:
        return _reject(folder, TOO_LARGE, f"{size:,} bytes, over the {kind.max_bytes:,} of {folder}/ "
                                          f"({kind.why_max})")
    return Verdict(True, folder, codec=codec) if kind.opaque else None


def _by_content(relative_key: str, size: int, head: bytes) -> Verdict:
    """The verdict on a text file whose key and size pass (`by_name`), from its first bytes."""
    folder, _, rest = relative_key.strip("/").partition("/")
    name, codec = _split_codec(KINDS[folder], posixpath.basename(rest))
    whole = len(head) >= size
    content = _Content(head, whole)
    if codec is not None:
        inflated = CODECS[codec](head, whole)
        if isinstance(inflated, str):
            return _reject(folder, NOT_COMPRESSED_AS_NAMED, inflated)
        if inflated is None:  # a codec inflated only by Spark: its name and magic are all that is checked
            return Verdict(True, folder, codec=codec)
        content = inflated
    bad = _format(name, content)
    if bad is not None:
        return Verdict(False, folder, rule=bad.rule, reason=bad.reason)
    return Verdict(True, folder, codec=codec)


def rejected_key(root: str, relative_key: str) -> str:
    """Where a rejected landing file goes: `<root>/rejected/<relative_key>`; `root` is the storage
    root's URI, or its S3 key prefix ("" for a bucket's top)."""
    return "/".join(part for part in (root.rstrip("/"), "rejected", relative_key.strip("/")) if part)


def reason_key(root: str, relative_key: str) -> str:
    """The reason object beside a rejected file: `<root>/rejected/<relative_key>.reason.json`."""
    return rejected_key(root, relative_key) + ".reason.json"


def reason_document(relative_key: str, size: int, verdict: Verdict, rejected_at: datetime) -> str:
    """The reason object's JSON: key, size, kind, rule, reason, rejected_at. Never the file's content."""
    return json.dumps({"key": relative_key, "size": size, "kind": verdict.kind, "rule": verdict.rule,
                       "reason": verdict.reason, "rejected_at": rejected_at.isoformat()}, sort_keys=True)
