"""The stream as a streaming DataFrame, through this project's source or AWS's own connector."""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from lakehouse.errors import ConfigError
from lakehouse.sources.kinesis.data_source import register
from lakehouse.sources.kinesis.options import FORMAT

AWS_CONNECTOR = "aws-kinesis"


@dataclass(frozen=True)
class StreamSettings:
    """How the stream job reads the stream (plain values the app layer takes from `stream` and `aws`).

    Attributes:
        connector: "lakehouse-kinesis" (this project's source, any Spark 4.1) or "aws-kinesis"
            (AWS's own connector, on EMR).
        endpoint_url: a local stand-in's URL; None for AWS itself.
    """

    connector: str
    stream_name: str
    region: str
    endpoint_url: str | None
    starting_position: str
    starting_timestamp: str | None
    max_records_per_shard: int
    fail_on_data_loss: bool


def read_stream(spark: SparkSession, settings: StreamSettings) -> DataFrame:
    """The stream's records as the connector gives them (this project's source: `KINESIS_SCHEMA`;
    AWS's: `data`, `streamName`, `sequenceNumber`, `partitionKey`, `approximateArrivalTimestamp`, ...)."""
    s = settings
    if s.connector == FORMAT:
        register(spark)
        reader = (
            spark.readStream.format(FORMAT)
            .option("streamName", s.stream_name)
            .option("region", s.region)
            .option("startingPosition", s.starting_position)
            .option("maxRecordsPerShard", str(s.max_records_per_shard))
            .option("failOnDataLoss", str(s.fail_on_data_loss).lower())
        )
        if s.starting_timestamp:
            reader = reader.option("startingTimestamp", s.starting_timestamp)
        if s.endpoint_url:
            reader = reader.option("endpointUrl", s.endpoint_url)
        return reader.load()
    if s.connector == AWS_CONNECTOR:
        position = s.starting_position
        if position == "AT_TIMESTAMP":
            position = f"AT_TIMESTAMP {s.starting_timestamp}"
        return (
            spark.readStream.format(AWS_CONNECTOR)
            .option("kinesis.streamName", s.stream_name)
            .option("kinesis.region", s.region)
            .option("kinesis.endpointUrl", s.endpoint_url or f"https://kinesis.{s.region}.amazonaws.com")
            .option("kinesis.startingposition", position)
            .option("kinesis.maxFetchRecordsPerShard", str(s.max_records_per_shard))
            .option("kinesis.failOnDataLoss", str(s.fail_on_data_loss).lower())
            .load()
        )
    raise ConfigError(f"stream.format must be '{FORMAT}' or '{AWS_CONNECTOR}', got '{s.connector}'")
