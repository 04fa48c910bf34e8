"""Leases on checkpoints (files beside them, renewed by their holder) and what silver does with them."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse.errors import LakehouseError
from lakehouse.pipeline.silver import own_checkpoint
from lakehouse.storage import leases


def test_one_holder_at_a_time_and_the_next_after_release(spark: SparkSession, tmp_path: Path) -> None:
    checkpoint = str(tmp_path / "_checkpoints" / "silver_x")
    first, second = leases.Lease(spark, checkpoint, "follow"), leases.Lease(spark, checkpoint, "drain")
    assert first.acquire() is None
    held = second.acquire()
    assert held is not None and held.owner == first.owner and held.mode == "follow"
    first.release()
    assert not Path(checkpoint + ".lease").exists()
    assert second.acquire() is None
    second.release()


def test_the_holder_renews_and_a_stale_lease_is_taken_over(spark: SparkSession, tmp_path: Path) -> None:
    checkpoint = str(tmp_path / "silver_x")
    holder = leases.Lease(spark, checkpoint, "follow", ttl_seconds=1.5)
    assert holder.acquire() is None
    time.sleep(2.5)  # past one time to live: only the renewals keep it
    assert leases.Lease(spark, checkpoint, "drain").acquire() is not None
    holder.release()
    # A holder that stopped renewing (its host went away): taken over once its time is past.
    Path(checkpoint + ".lease").write_text(json.dumps({"owner": "other-host:1:ab", "mode": "follow",
                                                       "expires_at": time.time() - 1}))
    taker = leases.Lease(spark, checkpoint, "drain")
    assert taker.acquire() is None
    taker.release()


def test_a_lease_of_a_dead_process_of_this_host_is_stale_at_once(spark: SparkSession, tmp_path: Path) -> None:
    import socket

    gone = subprocess.Popen(["true"])
    gone.wait()
    checkpoint = str(tmp_path / "silver_x")
    Path(checkpoint + ".lease").write_text(json.dumps({"owner": f"{socket.gethostname()}:{gone.pid}:ab",
                                                       "mode": "follow", "expires_at": time.time() + 3600}))
    taker = leases.Lease(spark, checkpoint, "drain")
    assert taker.acquire() is None
    taker.release()


def test_silver_skips_a_flow_a_stream_follows_and_waits_for_another_drain(spark: SparkSession,
                                                                          tmp_path: Path) -> None:
    checkpoint = str(tmp_path / "silver_enrollment_events")
    said: list[str] = []
    stream = leases.Lease(spark, checkpoint, "follow")
    assert stream.acquire() is None
    assert own_checkpoint(spark, checkpoint, "drain", said.append) is None
    assert said and said[0].startswith("silver_enrollment_events: followed by a running stream (follow by ")
    with pytest.raises(LakehouseError, match="another stream already follows this checkpoint"):
        own_checkpoint(spark, checkpoint, "follow", said.append)
    stream.release()

    drain = leases.Lease(spark, checkpoint, "drain")
    assert drain.acquire() is None
    threading.Timer(2.0, drain.release).start()
    started = time.monotonic()
    mine = own_checkpoint(spark, checkpoint, "follow", said.append)
    assert mine is not None and time.monotonic() - started >= 1.5  # waited for the drain to end
    assert any("another run is draining it" in m for m in said)
    mine.release()
    with pytest.raises(LakehouseError, match="still being drained by another run after 0 s"):
        other = leases.Lease(spark, checkpoint, "drain")
        assert other.acquire() is None
        try:
            own_checkpoint(spark, checkpoint, "drain", said.append, wait_seconds=0)
        finally:
            other.release()
