"""Amazon Data Firehose, locally: a delivery stream reading a Kinesis stream into S3."""
