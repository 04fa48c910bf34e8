"""Storage: the one room that reads and writes Delta tables and touches the Hadoop file system.

- `delta`: tables by name under a storage root (read, stream increments, append, insert-new, sync);
- `delta_log`: a table's version and commit metadata, read from its log files (no Spark job);
- `files`: small files through Hadoop's file system (local, S3), and local files written atomically.
"""
