"""What a Kinesis call costs on the moto stand-in: moto 5.2.5's own shard against the project's patch.

A shard is filled with N records (through the patched put, which leaves moto's data structure as
moto's own would), then one put and GetRecords of 1,000 records near the tip and from the start
are timed with moto's methods and with `lakehouse.local.moto_kinesis`'s, on the same shard. Prints
milliseconds per call and the ratio moto / patched (above 1: the patch is cheaper).

    .venv/bin/python benchmarks/moto_kinesis_shard.py [--records 100000] [--repeat 20]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from moto.kinesis.models import Shard

from lakehouse.local import moto_kinesis


def _ms(call: Callable[[], Any], repeat: int) -> float:
    """The median wall time of `call`, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    shard = Shard(0, 0, 2**128)
    for n in range(args.records):
        moto_kinesis._put_record(shard, f"key-{n}", "eyJhIjogMX0=", "0")
    tip, limit = str(args.records - 1_000), 1_000
    cases = {
        "put (one record)": (lambda: Shard.put_record(shard, "k", "eA==", "0"),
                             lambda: moto_kinesis._put_record(shard, "k", "eA==", "0")),
        f"GetRecords {limit:,} near the tip": (lambda: Shard.get_records(shard, tip, limit),
                                               lambda: moto_kinesis._get_records(shard, tip, limit)),
        f"GetRecords {limit:,} from the start": (lambda: Shard.get_records(shard, "0", limit),
                                                 lambda: moto_kinesis._get_records(shard, "0", limit)),
    }
    assert Shard.get_records(shard, tip, limit) == moto_kinesis._get_records(shard, tip, limit)
    print(f"shard of {args.records:,} records; median of {args.repeat} calls")
    print(f"{'call':<30} {'moto ms':>10} {'patched ms':>11} {'moto/patched':>13}")
    for name, (moto_call, patched_call) in cases.items():
        moto_ms, patched_ms = _ms(moto_call, args.repeat), _ms(patched_call, args.repeat)
        print(f"{name:<30} {moto_ms:>10.3f} {patched_ms:>11.3f} {moto_ms / patched_ms:>13.1f}")


if __name__ == "__main__":
    main()
