"""Device logs (`device_logs/*.jsonl`) and scanned documents (`documents/**`, tiny valid PNG and PDF)."""
from __future__ import annotations

import json
import random
import struct
import zlib
from datetime import timedelta

from lakehouse.datagen.landing import LandingFile, Planted, RowRef
from lakehouse.datagen.world import World, iso_ms

_MESSAGES = {
    "INFO": ("fingerprint reader ready", "camera calibrated", "session opened", "session closed",
             "sync completed"),
    "WARN": ("fingerprint reader slow to respond", "low light for face capture", "sync retried"),
    "ERROR": ("iris camera disconnected", "sync failed: timeout", "reader firmware checksum mismatch"),
}
_FIRMWARE = ("3.1.4", "3.2.0", "3.2.1")


def plan_device_logs(rng: random.Random, world: World, per_case: int) -> tuple[list[LandingFile], list[Planted]]:
    period = world.period
    devices = [(f"DEV-{o.office_id[3:]}-{k}", o.office_id, rng.choice(_FIRMWARE[:2]))
               for o in world.offices for k in (1, 2)]
    upgraded = set(rng.sample(range(len(devices)), max(1, len(devices) // 4)))  # these update mid-period
    lines_by_day: list[list[str]] = []
    for day in range(period.days):
        entries = []
        for index, (device_id, office_id, firmware) in enumerate(devices):
            if index in upgraded and day >= period.half:
                firmware = _FIRMWARE[2]
            for _ in range(rng.randint(2, 6)):
                moment = period.start + timedelta(days=day, seconds=rng.randint(7 * 3600, 20 * 3600),
                                                  milliseconds=rng.randint(0, 999))
                level = rng.choices(("INFO", "WARN", "ERROR"), weights=(80, 15, 5))[0]
                entries.append((moment, json.dumps({
                    "device_id": device_id, "office_id": office_id, "ts": iso_ms(moment), "level": level,
                    "message": rng.choice(_MESSAGES[level]), "firmware": firmware})))
        lines_by_day.append([text for _, text in sorted(entries)])
    planted: list[Planted] = []
    for day in rng.sample(range(period.days), min(per_case, period.days)):
        name = f"device_logs/device_logs-{period.date_of(day).isoformat()}.jsonl"
        lines = lines_by_day[day]
        position = rng.randrange(len(lines))
        lines.insert(position, lines[position][: rng.randint(10, len(lines[position]) - 10)])  # cut mid-write
        planted.append(Planted("malformed_log_lines", day, RowRef(name, position + 1)))
    files = [LandingFile("device_logs", f"device_logs/device_logs-{period.date_of(day).isoformat()}.jsonl", day,
                         ("\n".join(lines) + "\n").encode("utf-8"))
             for day, lines in enumerate(lines_by_day)]
    return files, planted


def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (8-bit RGB, no compression tricks)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    scanline = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(scanline * height, 9))
            + chunk(b"IEND", b""))


def pdf_bytes(title: str) -> bytes:
    """A valid one-page PDF with one line of text and a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({title}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def plan_documents(rng: random.Random, world: World, enrollments: int) -> list[LandingFile]:
    """A few scans per period, e.g. documents/2026/10/OF-0003/scan-0001.png, stamped with their scan time."""
    period = world.period
    # Spread over both parts: odd numbers in part 1, even numbers in part 2.
    count = max(4, enrollments // 1000)
    files = []
    for number in range(1, count + 1):
        days = period.days_of("1" if number % 2 else "2")
        moment = period.start + timedelta(days=rng.choice(days), seconds=rng.randint(8 * 3600, 18 * 3600))
        office = rng.choice(world.offices).office_id
        folder = f"documents/{moment:%Y}/{moment:%m}/{office}"
        if number % 3 == 0:
            path, content = f"{folder}/scan-{number:04d}.pdf", pdf_bytes(f"Form {number:04d}")
        else:
            color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            path, content = f"{folder}/scan-{number:04d}.png", png_bytes(rng.randint(4, 16), rng.randint(4, 16), color)
        files.append(LandingFile("documents", path, period.day_of(moment), content, mtime=moment))
    return files
