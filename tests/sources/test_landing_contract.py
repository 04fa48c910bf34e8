"""The landing contract judges a file by its key, size and first bytes, built here byte by byte."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import zlib
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
import zstandard
from pyspark.sql import SparkSession

from lakehouse.bronze.office_reports import REPORT_COLUMNS
from lakehouse.config import DatagenConfig
from lakehouse.datagen import generate
from lakehouse.sources import landing, landing_contract
from lakehouse.sources.landing_contract import HEAD_BYTES, check

EVENT = b'{"event_id": "e1", "event_type": "enrollment_started"}\n'
REPORT = (b"report_date,office_id,staffed_hours,appointments_scheduled,appointments_attended,notes\n"
          b"2026-10-01,OF-0001,8,20,18,\n")


def judge(key: str, content: bytes) -> landing_contract.Verdict:
    return check(key, len(content), content[:HEAD_BYTES])


def workbook(header: list[str]) -> bytes:
    book = openpyxl.Workbook()
    book.active.append(header)
    book.active.append(["2026-10-01", "OF-0001", 8, 20, 18, None])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_header_is_the_bronze_parsers():
    # bronze may not import sources (ARCHITECTURE.md): the two lists are kept equal here
    assert landing_contract.REPORT_COLUMNS == REPORT_COLUMNS


TAKEN = [
    ("events/2026-10-01/part-1.jsonl", EVENT),
    ("events/a.json", EVENT * 3),
    ("device_logs/d.jsonl", b'{"device_id": "D1"}\r\n'),
    ("events/2026-10-01/part-1.jsonl.gz", gzip.compress(EVENT)),
    ("events/b.jsonl.bz2", bz2.compress(EVENT)),
    ("events/c.jsonl.deflate", zlib.compress(EVENT)),
    ("events/d.jsonl.zst", zstandard.ZstdCompressor().compress(EVENT)),
    ("events/e.jsonl.zstd", zstandard.ZstdCompressor().compress(EVENT)),
    ("office_reports/r.csv", REPORT),
    ("office_reports/r.csv", b"\xef\xbb\xbf" + REPORT.replace(b"\n", b"\r\n")),  # Excel's CSV: BOM, CRLF
    ("office_reports/r.csv.gz", gzip.compress(REPORT)),
    ("office_reports/r.xlsx", workbook(REPORT_COLUMNS)),
    ("documents/scans/a b.pdf", b"%PDF-1.7 ..."),
    ("documents/x.json", b"not json, and no matter: a document's bytes are kept as they are"),
]


@pytest.mark.parametrize("key, content", TAKEN)
def test_files_the_sources_take(key, content):
    verdict = judge(key, content)
    assert verdict.ok, verdict.reason
    assert verdict.kind == key.split("/")[0]
    assert verdict.reason == ""


def test_a_bad_line_among_good_ones_is_bronzes_to_keep_not_a_reason_to_refuse():
    # bronze keeps a garbage line with `_parse_error` (quarantine, `record_parseable`)
    assert judge("events/a.jsonl", b"<html><body>502 Bad Gateway</body></html>\n" + EVENT).ok
    assert judge("events/a.jsonl", b"<html>\n%%%\n[1]\n").rule == "not_json_lines"


def test_every_file_the_demo_generates_is_taken(tmp_path: Path):
    """The synthetic landing zone, hard cases and all (garbage lines, short CSV rows), passes."""
    summary = generate(tmp_path, DatagenConfig(seed=11, days=6, offices=10, enrollments=3200,
                                               start_date="2026-10-01"))
    paths = [path for kind in summary.files.values() for path in kind]
    assert {p.split("/")[0] for p in paths} == set(landing_contract.KINDS)
    refused = {}
    for path in paths:
        content = (tmp_path / path).read_bytes()
        verdict = judge(path, content)
        if not verdict.ok:
            refused[path] = verdict.reason
    assert not refused


def test_an_accepted_text_file_names_its_codec():
    assert judge("events/a.jsonl.gz", gzip.compress(EVENT)).codec == ".gz"
    assert judge("events/a.jsonl", EVENT).codec is None


def test_a_large_file_is_judged_by_its_head():
    lines = EVENT * 20_000  # over 1 MiB: the head holds the first lines only
    assert judge("events/big.jsonl", lines).ok
    packed = gzip.compress(lines)
    assert len(packed) > 0 and judge("events/big.jsonl.gz", packed).ok
    # a first line longer than the head: it must at least start a JSON object
    long_line = b'{"notes": "' + b"x" * (2 * HEAD_BYTES) + b'"}\n'
    assert judge("device_logs/long.jsonl", long_line).ok
    assert judge("device_logs/long.jsonl", b"x" + long_line).rule == "not_json_lines"


REFUSED = [
    ("landing.jsonl", EVENT, "unknown_folder"),
    ("invoices/a.jsonl", EVENT, "unknown_folder"),
    ("events", EVENT, "unknown_folder"),
    ("events/_SUCCESS", EVENT, "hidden_name"),
    ("events/.a.jsonl", EVENT, "hidden_name"),
    ("events/_tmp/a.jsonl", EVENT, "hidden_name"),
    ("events/a.jsonl._COPYING_", EVENT, "hidden_name"),
    ("events/a.csv", REPORT, "name_pattern"),
    ("events/a.JSONL", EVENT, "name_pattern"),
    ("events/a.gz", gzip.compress(EVENT), "name_pattern"),
    ("events/a.jsonl.zip", EVENT, "name_pattern"),
    ("office_reports/r.xlsx.gz", gzip.compress(workbook(REPORT_COLUMNS)), "name_pattern"),
    ("events/a.jsonl", b"", "empty_file"),
    ("events/a.jsonl", b"\n\n  \n", "empty_file"),
    ("events/a.jsonl.gz", gzip.compress(b""), "empty_file"),
    ("events/a.jsonl.gz", EVENT, "not_compressed_as_named"),
    ("events/a.jsonl.gz", b"\x1f\x8b" + b"\x00" * 30, "not_compressed_as_named"),
    ("events/a.jsonl.bz2", gzip.compress(EVENT), "not_compressed_as_named"),
    ("events/a.jsonl.deflate", EVENT, "not_compressed_as_named"),
    ("events/a.jsonl.zst", gzip.compress(EVENT), "not_compressed_as_named"),
    # the lz4 tool's frame format (magic 04 22 4D 18) and Snappy's framing format: Spark reads neither
    ("events/a.jsonl.lz4", b"\x04\x22\x4d\x18\x64\x40\xa7" + EVENT, "not_compressed_as_named"),
    ("events/a.jsonl.snappy", b"\xff\x06\x00\x00sNaPpY" + EVENT, "not_compressed_as_named"),
    ("events/a.jsonl", b"event_id,event_type\ne1,x\n", "not_json_lines"),
    ("events/a.jsonl", b"[1, 2]\n", "not_json_lines"),
    ("events/a.jsonl.gz", gzip.compress(b"<xml/>\n"), "not_json_lines"),
    ("events/a.jsonl", b"\xff\xfe{\x00}\x00\n\x00", "not_utf8"),
    ("office_reports/r.csv", b"date,office\n2026-10-01,OF-0001\n", "csv_header"),
    ("office_reports/r.csv", REPORT.split(b"\n", 1)[1], "csv_header"),  # no header: a data row first
    ("office_reports/r.csv.bz2", bz2.compress(b"a;b;c\n"), "csv_header"),
    ("office_reports/r.xlsx", REPORT, "not_xlsx"),
    ("office_reports/r.xlsx", b"PK\x03\x04" + b"\x00" * 40, "not_xlsx"),
]


@pytest.mark.parametrize("key, content, rule", REFUSED)
def test_files_the_sources_refuse(key, content, rule):
    verdict = judge(key, content)
    assert not verdict.ok
    assert verdict.rule == rule
    assert verdict.reason.startswith(f"{rule}: ") and "\n" not in verdict.reason


def test_a_zip_that_is_not_a_workbook():
    out = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    assert judge("office_reports/r.xlsx", out.getvalue()).rule == "not_xlsx"


def test_sizes_over_a_kinds_limit():
    # only the size is over: the head is a good file's
    assert check("office_reports/r.csv", 64 * 1024 * 1024 + 1, REPORT).rule == "too_large"
    assert check("office_reports/r.csv", 64 * 1024 * 1024, REPORT).ok
    assert check("events/a.jsonl", 512 * 1024 * 1024 + 1, EVENT).rule == "too_large"
    assert check("documents/a.pdf", 2 * 1024**3, b"%PDF").rule == "too_large"


def test_a_reason_never_quotes_the_content():
    secret = b"national_id,full_name\n40718231,Maria Perez\n"
    for key in ("office_reports/r.csv", "events/a.jsonl"):
        reason = judge(key, secret).reason
        assert "40718231" not in reason and "Maria" not in reason and "national_id" not in reason


def test_the_rejected_naming():
    assert landing_contract.rejected_key("s3a://lake/prod", "events/2026-10-01/a b.jsonl") == \
        "s3a://lake/prod/rejected/events/2026-10-01/a b.jsonl"
    assert landing_contract.reason_key("prod/", "events/a.jsonl") == "prod/rejected/events/a.jsonl.reason.json"
    assert landing_contract.rejected_key("", "events/a.jsonl") == "rejected/events/a.jsonl"
    verdict = judge("events/a.jsonl", b"nope\n")
    document = json.loads(landing_contract.reason_document(
        "events/a.jsonl", 5, verdict, datetime(2026, 10, 1, 12, 0, tzinfo=UTC)))
    assert document == {"key": "events/a.jsonl", "size": 5, "kind": "events", "rule": "not_json_lines",
                        "reason": "not_json_lines: none of the first 1 lines is a JSON object",
                        "rejected_at": "2026-10-01T12:00:00+00:00"}


def test_every_codec_taken_is_one_spark_reads(spark: SparkSession, tmp_path: Path):
    """Spark writes each codec it can (Hadoop's lz4 and snappy framing included); zstandard writes
    .zst and .zstd; the contract takes each file and Spark's text reader gives the lines back."""
    lines = [json.dumps({"event_id": f"e{i}"}) for i in range(3)]
    frame = spark.createDataFrame([(line,) for line in lines], "value string").coalesce(1)
    written = []
    for codec in ("gzip", "bzip2", "deflate", "lz4", "snappy"):
        frame.write.option("compression", codec).text(str(tmp_path / codec))
        (part,) = (tmp_path / codec).glob("part-*")
        written.append(part.rename(tmp_path / f"{codec}.jsonl{part.suffix}"))
    for ext in (".zst", ".zstd"):
        written.append(tmp_path / f"z.jsonl{ext}")
        written[-1].write_bytes(zstandard.ZstdCompressor().compress(("\n".join(lines) + "\n").encode()))
    assert {p.suffix for p in written} == set(landing_contract.CODECS)
    for path in written:
        content = path.read_bytes()
        verdict = judge(f"events/{path.name}", content)
        assert verdict.ok and verdict.codec == path.suffix, (path.name, verdict.reason)
        assert [r.value for r in spark.read.text(str(path)).collect()] == lines, path.name


def test_ingest_judges_landed_files_as_the_contract_does(spark: SparkSession, tmp_path: Path):
    """`landing.judge_all` (heads cut in one Spark job, or read on the driver for a few files) gives
    every file the verdict `check` gives the bytes Python reads from disk, in the files' order."""
    cases = [(key, content) for key, content in TAKEN] + [(key, content) for key, content, _ in REFUSED]
    cases.append(("events/big.jsonl", EVENT * 20_000))  # over the head: only its first bytes are judged
    cases.append(("events/big-bad.jsonl", b"x" * (3 * HEAD_BYTES)))
    landed = []
    for n, (key, content) in enumerate(cases):
        folder, _, rest = key.partition("/")
        if not rest:
            continue  # a file at the top of landing/ has no folder to number it in
        path = tmp_path / "landing" / folder / f"c{n:02d}" / rest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        landed.append(landing.LandedFile(f"file:{path}", len(content), datetime.now()))
    expected = [check(f.key, f.size, Path(f.path.removeprefix("file:")).read_bytes()[:HEAD_BYTES]) for f in landed]
    assert sum(landing_contract.by_name(f.key, f.size) is None for f in landed) > 20  # the Spark job's way
    assert landing.judge_all(spark, landed) == expected
    few = landed[:5]  # fewer files than make a Spark job worth it: read on the driver
    assert landing.judge_all(spark, few) == expected[:5]
    assert [v.ok for v in expected].count(False) >= len(REFUSED) - 3  # the refused stay refused


def test_a_report_in_each_csv_dialect_bronze_reads_is_taken():
    header = ["report_date", "office_id", "staffed_hours", "appointments_scheduled", "appointments_attended", "notes"]
    for delimiter in (",", ";", "\t"):
        content = (delimiter.join(header) + "\r\n" + delimiter.join(["2026-10-01", "OF-1", "8", "2", "1", ""])).encode()
        assert judge("office_reports/r.csv", content).ok, repr(delimiter)
    assert judge("office_reports/r.csv", ("|".join(header) + "\n").encode()).rule == "csv_header"
