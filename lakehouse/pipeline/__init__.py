"""Pipeline steps: ingest (landing -> bronze), silver, gold; each idempotent and incremental."""
