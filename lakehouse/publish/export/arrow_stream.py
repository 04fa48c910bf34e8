"""A DataFrame's rows as a stream of Arrow record batches, one partition at a time.

The one module of `lakehouse.publish` allowed to use PySpark internals (`DataFrame._jdf.toArrowBatchRdd`,
`pyspark.util._local_iterator_from_socket`, the JVM's `PythonRDD`, the session's `_jconf`):
PySpark streams rows (`toLocalIterator`) and collects Arrow (`toArrow`), but does not stream Arrow.
A PySpark upgrade that moves these pieces breaks the export here and nowhere else.
"""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame


def arrow_batches(frame: DataFrame) -> Iterator[pa.RecordBatch]:
    """The frame's rows as Arrow record batches, one partition at a time (Spark computes the next
    while this one is consumed), so the driver never holds the whole table.

    `toLocalIterator` for Arrow: this pairs the JVM's own pieces (the Arrow batches `toArrow`
    collects, served the way `toLocalIterator` serves rows).
    """
    from pyspark.serializers import NoOpSerializer
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.util import _local_iterator_from_socket

    spark = frame.sparkSession
    large = spark._jconf.arrowUseLargeVarTypes()  # type: ignore[attr-defined]
    schema = to_arrow_schema(frame.schema, prefers_large_types=large)
    jvm = spark.sparkContext._jvm
    served = jvm.PythonRDD.toLocalIteratorAndServe(frame._jdf.toArrowBatchRdd(), True)  # type: ignore[union-attr]
    for message in _local_iterator_from_socket(served, NoOpSerializer()):
        yield pa.ipc.read_record_batch(pa.py_buffer(message), schema)
