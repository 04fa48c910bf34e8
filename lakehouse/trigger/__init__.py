"""The S3-event trigger: an AWS Lambda that judges each landing file as it arrives (`s3_events`),
and its packaging into a zip without Spark (`package`)."""
