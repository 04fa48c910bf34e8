"""`lakehouse export`: every gold table into a PostgreSQL schema, atomically and idempotently.

Rows stream from Spark as Arrow record batches, one partition at a time, and are encoded into
PostgreSQL's binary COPY format with Arrow kernels (no per-row Python).

The rooms:
- `plan`: what each gold table becomes (columns, PostgreSQL types, key, indexes, its digest);
- `copy_codec`: the binary COPY encoding of Arrow batches, pure;
- `arrow_stream`: a DataFrame as a stream of Arrow batches (the one user of PySpark internals);
- `ddl`: the SQL statements; `run`: the export itself (`export_gold`), one transaction.
"""
from lakehouse.publish.export.plan import ExportError, Snapshot
from lakehouse.publish.export.run import ExportResult, export_gold, gold_snapshots

__all__ = ["ExportError", "ExportResult", "Snapshot", "export_gold", "gold_snapshots"]
