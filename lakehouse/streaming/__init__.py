"""The real-time path: a synthetic producer standing in for the web and mobile APIs (no Spark here)."""
from lakehouse.streaming.events import SyntheticRecord, synthetic_events, synthetic_records
from lakehouse.streaming.producer import ProduceError, ProduceSummary, ensure_stream, produce

__all__ = ["ProduceError", "ProduceSummary", "SyntheticRecord", "ensure_stream", "produce", "synthetic_events",
           "synthetic_records"]
