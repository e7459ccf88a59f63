"""CloudWatch, locally: the functions' log files fed into moto's CloudWatch Logs and, from the embedded
metric format (EMF) lines in them, into moto's CloudWatch metrics, as Lambda and CloudWatch do in AWS;
and moto server with the percentile statistics (p50, p99) the dashboard asks for."""
