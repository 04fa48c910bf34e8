"""Small files through Hadoop's file system, so the same call works on local disk and on S3.

This is the only module that reaches the JVM's file system classes through py4j (and the classes
of JVM errors, for `storage.conflicts`, and the one Delta log call PySpark has no API for:
`checkpoint_log`, for `storage.maintenance`).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

from py4j.java_gateway import is_instance_of
from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession


def _fs(spark: SparkSession, location: str) -> tuple[Any, Any]:
    """(Hadoop Path, its FileSystem) for `location`."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(location)  # type: ignore[union-attr]
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[union-attr]


def checkpoint_log(spark: SparkSession, location: str) -> int:
    """Write a checkpoint of the latest version of the Delta table at `location` into its
    `_delta_log` (readers then replay no JSON commit before it); returns that version."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, location)
    snapshot = log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty())
    log.checkpoint(snapshot, jvm.scala.Option.empty())
    return int(snapshot.version())


def exists(spark: SparkSession, location: str) -> bool:
    path, fs = _fs(spark, location)
    return bool(fs.exists(path))


def list_names(spark: SparkSession, folder: str) -> list[str]:
    """The names of the entries directly in `folder` (none when it does not exist)."""
    path, fs = _fs(spark, folder)
    if not fs.exists(path):
        return []
    return sorted(str(status.getPath().getName()) for status in fs.listStatus(path))


def list_recursive(spark: SparkSession, folder: str) -> list[tuple[str, int, int]]:
    """(URI, size in bytes, modification time in epoch milliseconds) of every file under `folder`,
    hidden and empty ones included (Spark's file sources skip both); none when it does not exist."""
    path, fs = _fs(spark, folder)
    if not fs.exists(path):
        return []
    return sorted((str(s.getPath().toString()), int(s.getLen()), int(s.getModificationTime()))
                  for s in _file_statuses(fs, path))


def _file_statuses(fs: Any, path: Any) -> Iterator[Any]:
    """The FileStatus of every file under `path`.

    On local disk the folders are walked one by one with `listStatus`: `listFiles(recursive)`'s
    `LocatedFileStatus` asks for each file's owner and permissions, which Hadoop's local file
    system learns by starting a `stat` process per file (3.5 ms a file; 0.4 ms walked). Elsewhere
    `listFiles(recursive)` is the cheap one (S3A lists a whole prefix in pages, with no folder walk).
    """
    if str(fs.getScheme()) != "file":
        listing = fs.listFiles(path, True)
        while listing.hasNext():
            yield listing.next()
        return
    folders = [path]
    while folders:
        for status in fs.listStatus(folders.pop()):
            if status.isDirectory():
                folders.append(status.getPath())
            else:
                yield status


def relative_files(spark: SparkSession, folder: str) -> set[str]:
    """The paths of every file under `folder`, relative to it (none when it does not exist)."""
    path, fs = _fs(spark, folder)
    base = str(fs.makeQualified(path).toString()).rstrip("/") + "/"
    return {uri.removeprefix(base) for uri, _, _ in list_recursive(spark, folder)}


def read_text(spark: SparkSession, location: str) -> str | None:
    """A small file's text (UTF-8), or None if it is not there."""
    path, fs = _fs(spark, location)
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        return str(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))  # type: ignore[union-attr]
    finally:
        stream.close()


def write_text(spark: SparkSession, location: str, text: str) -> None:
    """Write a small file (UTF-8), replacing it: written beside it, then renamed over it, so a
    reader sees the old text or the new, never part of it (S3 writes whole objects anyway)."""
    path, fs = _fs(spark, location)
    jvm = spark.sparkContext._jvm
    tmp = jvm.org.apache.hadoop.fs.Path(f"{location}.tmp-{os.getpid()}")  # type: ignore[union-attr]
    out = fs.create(tmp, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
    if fs.exists(path):
        fs.delete(path, False)
    if not fs.rename(tmp, path):
        raise OSError(f"could not rename {tmp} to {location}")


def create_text(spark: SparkSession, location: str, text: str, replace: bool = False) -> bool:
    """Write a small file (UTF-8) in one stream, in place. Without `replace`, refused when the file
    exists (False): the file system's own create-if-absent (atomic on HDFS, a check then a create on
    local disk and S3). With it, the text replaces the old in place (S3 replaces whole objects)."""
    path, fs = _fs(spark, location)
    if not replace and fs.exists(path):
        return False
    try:
        out = fs.create(path, replace)
    except Py4JJavaError as err:  # created meanwhile by another writer
        if is_instance_of(spark.sparkContext._gateway, err.java_exception,
                          "org.apache.hadoop.fs.FileAlreadyExistsException"):
            return False
        raise
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
    return True


def java_class_of(err: BaseException, class_names: list[str]) -> str | None:
    """The first of `class_names` (JVM classes) that a JVM error, or one of its first causes, is an
    instance of; None for an error that did not come from the JVM."""
    from pyspark import SparkContext

    java = getattr(err, "java_exception", None) or getattr(err, "_origin", None)
    gateway, depth = SparkContext._gateway, 0
    while java is not None and gateway is not None and depth < 10:  # a cause chain is short; never loop
        for name in class_names:
            if is_instance_of(gateway, java, name):
                return name
        java, depth = java.getCause(), depth + 1
    return None


def _codec(spark: SparkSession, path: Any) -> Any:
    """Hadoop's compression codec for a file name (`.gz`, `.bz2`, `.zst`, ...), or None."""
    jvm = spark.sparkContext._jvm
    factory = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(  # type: ignore[union-attr]
        spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    return factory.getCodec(path)


def read_decoded_text(spark: SparkSession, location: str) -> str:
    """A text file's content (UTF-8), decompressed by the codec its name names, as Spark reads it."""
    path, fs = _fs(spark, location)
    codec = _codec(spark, path)
    stream = fs.open(path) if codec is None else codec.createInputStream(fs.open(path))
    try:
        return str(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))  # type: ignore[union-attr]
    finally:
        stream.close()


def write_encoded_text(spark: SparkSession, location: str, text: str) -> None:
    """Replace a text file, compressed with the codec its name names (written beside it, then
    renamed over it, like `write_text`)."""
    path, fs = _fs(spark, location)
    codec = _codec(spark, path)
    tmp = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(f"{location}.tmp-{os.getpid()}")  # type: ignore[union-attr]
    raw = fs.create(tmp, True)
    out = raw if codec is None else codec.createOutputStream(raw)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
    fs.delete(path, False)
    if not fs.rename(tmp, path):
        raise OSError(f"could not rename {tmp} to {location}")


def read_head(spark: SparkSession, location: str, size: int) -> bytes:
    """The first `size` bytes of a file (all of it when smaller)."""
    path, fs = _fs(spark, location)
    stream = fs.open(path)
    try:
        return bytes(stream.readNBytes(size))
    finally:
        stream.close()


def move(spark: SparkSession, source: str, target: str) -> None:
    """Move a file to `target`, making its folder first (on S3: copied, then deleted)."""
    path, fs = _fs(spark, source)
    destination = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(target)  # type: ignore[union-attr]
    fs.mkdirs(destination.getParent())
    if not fs.rename(path, destination):
        raise OSError(f"could not move {source} to {target}")


def rename(spark: SparkSession, source: str, target: str) -> None:
    """Rename a file or folder (a folder on S3 is copied object by object)."""
    path, fs = _fs(spark, source)
    if not fs.rename(path, spark.sparkContext._jvm.org.apache.hadoop.fs.Path(target)):  # type: ignore[union-attr]
        raise OSError(f"could not rename {source} to {target}")


def delete(spark: SparkSession, location: str) -> bool:
    """Delete a file or a folder with all it holds; False when there was nothing to delete."""
    path, fs = _fs(spark, location)
    return bool(fs.delete(path, True))


def write_local_text(path: str, text: str, mode: int = 0o644) -> str:
    """Write a local file atomically (beside it, fsync, rename over it); returns its absolute path."""
    if "://" in path:
        raise ValueError(f"a local file path is expected, not {path!r}")
    target = os.path.abspath(path)
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return target
