"""The environment every consumer benchmark runs in: fake credentials for the local endpoints, one
region, Powertools quiet (no traces, no metrics, errors only in the log), and requests signed in
Python, as in Lambda's Python runtime, which ships boto3 without awscrt."""

from __future__ import annotations

import os

BENCH_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_NAMESPACE": "WeirBench",
    "BOTO_DISABLE_CRT": "true",
}


def use_bench_environment() -> None:
    """Set :data:`BENCH_ENVIRONMENT` in this process (before boto3 or Powertools is imported)."""
    os.environ.update(BENCH_ENVIRONMENT)
