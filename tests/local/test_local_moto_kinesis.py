"""The stand-in's Kinesis shards, patched to cost what Kinesis' do, still answer as moto's do."""
from __future__ import annotations

import threading
import time

from moto.kinesis.models import Shard

from lakehouse.local import moto_kinesis


def _shard(records: int) -> Shard:
    moto_kinesis.install()
    shard = Shard(0, 0, 2**128)
    for i in range(records):
        shard.put_record(f"k{i}", f"ZGF0YS0{i}", None)  # type: ignore[arg-type]
        time.sleep(0.001)
    return shard


def test_puts_number_records_one_up_from_the_last() -> None:
    shard = _shard(5)
    assert list(shard.records) == [1, 2, 3, 4, 5]
    assert (shard.get_min_sequence_number(), shard.get_max_sequence_number()) == (1, 5)
    assert shard.put_record("k", "eA==", None) == "6"  # type: ignore[arg-type]


def test_get_records_answers_the_records_after_a_number_up_to_a_limit() -> None:
    shard = _shard(10)
    records, last, behind = shard.get_records("3", 4)
    assert [r.sequence_number for r in records] == [4, 5, 6, 7]
    assert last == 7
    # MillisBehindLatest: from the last record answered to the newest record of the shard.
    assert behind == int((shard.records[10].created_at - shard.records[7].created_at) * 1000)
    records, last, behind = shard.get_records("8", None)
    assert ([r.sequence_number for r in records], last, behind) == ([9, 10], 10, 0)
    assert shard.get_records("10", 5) == ([], 10, 0)  # at the tip: nothing, the same position


def test_concurrent_puts_never_share_a_sequence_number() -> None:
    shard = _shard(0)
    answers: list[str] = []

    def put_many() -> None:
        answers.extend(shard.put_record("k", "eA==", None) for _ in range(500))  # type: ignore[arg-type]

    threads = [threading.Thread(target=put_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers, key=int) == [str(i) for i in range(1, 2001)]
    assert len(shard.records) == 2000
