"""The pure part of the Kinesis source: offsets, shard lineage, end-of-shard rules (no stream, no Spark)."""
from __future__ import annotations

import json

from lakehouse.sources.kinesis.offsets import (
    ShardInfo,
    checkpoint_lost,
    iterator_args,
    lineage_order,
    make_offset,
    parents_finished,
    seq_key,
)


def test_sequence_numbers_compare_as_integers() -> None:
    real = "49590338271490256608559692538361571095921575989136588898"
    assert seq_key("10") > seq_key("9")  # as text "9" > "10"
    assert seq_key(real) > seq_key("9" * 40)
    assert sorted(["10", "9", "100"], key=seq_key) == ["9", "10", "100"]


def test_shard_info_reads_lineage_and_end() -> None:
    merged = ShardInfo.from_listing({
        "ShardId": "c", "ParentShardId": "a", "AdjacentParentShardId": "b",
        "SequenceNumberRange": {"StartingSequenceNumber": "5", "EndingSequenceNumber": "12"},
    })
    assert merged == ShardInfo("c", ("a", "b"), "12")
    assert not merged.read_to_end(None)
    assert not merged.read_to_end("9")
    assert merged.read_to_end("12") and merged.read_to_end("100")
    assert not ShardInfo.from_listing({"ShardId": "o", "SequenceNumberRange": {}}).read_to_end("100")


def test_lineage_order_puts_parents_before_children_whatever_their_ids() -> None:
    listing = {
        "z-root": ShardInfo("z-root"),
        "b-left": ShardInfo("b-left", ("z-root",)),
        "a-right": ShardInfo("a-right", ("z-root",)),
        "0-merged": ShardInfo("0-merged", ("b-left", "a-right")),
        "m-orphan": ShardInfo("m-orphan", ("expired-parent",)),
    }
    order = lineage_order(listing)
    assert sorted(order) == sorted(listing)
    pos = {sid: i for i, sid in enumerate(order)}
    for sid, info in listing.items():
        assert all(pos[p] < pos[sid] for p in info.parents if p in listing)


def test_parents_finished_waits_for_every_listed_parent() -> None:
    listing = {s: ShardInfo(s) for s in ("a", "b")}
    child = ShardInfo("c", ("a", "b"))
    assert not parents_finished(child, {}, listing)
    assert not parents_finished(child, {"a": {"done": True}, "b": {"seq": "4"}}, listing)
    assert parents_finished(child, {"a": {"done": True}, "b": {"done": True, "seq": "4"}}, listing)
    # a parent gone from the stream and never read by this query has nothing left to wait for
    assert parents_finished(ShardInfo("c", ("gone",)), {}, listing)
    assert not parents_finished(ShardInfo("c", ("gone",)), {"gone": {"seq": "3"}}, listing)


def test_checkpoint_lost_only_when_older_than_oldest_retained() -> None:
    assert checkpoint_lost("10", "15")
    assert not checkpoint_lost("15", "15")
    assert not checkpoint_lost("20", "15")
    assert not checkpoint_lost("9", None)  # an empty open shard gives no evidence
    assert checkpoint_lost("9", None, ending_seq="12")  # an emptied closed shard ended after the checkpoint
    assert not checkpoint_lost("12", None, ending_seq="12")
    assert checkpoint_lost("9", "10")  # integers, not text ("9" > "10" as text)


def test_iterator_args_continue_after_the_last_number_or_at_the_start() -> None:
    assert iterator_args({"type": "TRIM_HORIZON"}, "7") == {
        "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": "7"}
    assert iterator_args({"type": "TRIM_HORIZON"}, None) == {"ShardIteratorType": "TRIM_HORIZON"}
    at = iterator_args({"type": "AT_TIMESTAMP", "timestamp": "2026-01-02T03:04:05+00:00"}, None)
    assert at["ShardIteratorType"] == "AT_TIMESTAMP"
    assert at["Timestamp"].timestamp() == 1767323045.0


def test_offsets_serialise_the_same_whatever_the_insertion_order() -> None:
    start = {"type": "TRIM_HORIZON"}
    one = make_offset(start, {"s-2": {"seq": "3"}, "s-1": {"seq": "9", "done": True}})
    two = make_offset(start, {"s-1": {"done": True, "seq": "9"}, "s-2": {"seq": "3"}})
    assert json.dumps(one) == json.dumps(two)
    assert json.loads(json.dumps(one)) == one
