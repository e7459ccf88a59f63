from __future__ import annotations

from typing import Any

import pytest

from weir.config import ConfigError, IngestConfig
from weir.producer import Ordering

BASE = {"STREAM_NAME": "s", "OVERFLOW_QUEUE_URL": "http://q"}


def test_defaults_are_explicit_and_safe() -> None:
    config = IngestConfig.from_env(BASE)
    client = config.client_settings()
    assert (client.connect_timeout, client.read_timeout, client.max_attempts) == (1.0, 2.0, 1)
    botocore: Any = client.to_botocore()  # botocore's Config sets its attributes dynamically
    assert botocore.connect_timeout == 1.0
    assert botocore.read_timeout == 2.0
    assert botocore.retries == {"mode": "standard", "total_max_attempts": 1}
    assert botocore.tcp_keepalive is True
    assert config.producer_settings().limits.max_record_bytes == 1024 * 1024


def test_the_template_defaults_make_a_valid_configuration() -> None:
    from tests.stack import ingest_environment

    IngestConfig.from_env(ingest_environment("s", "http://q"))


def test_values_come_from_the_environment() -> None:
    config = IngestConfig.from_env(
        {**BASE, "MAX_RECORD_SIZE_KIB": "2048", "PRODUCER_ORDERING": "per-key", "KINESIS_READ_TIMEOUT_SECONDS": "0.5"}
    )
    assert config.producer_settings().limits.max_record_bytes == 2 * 1024 * 1024
    assert config.producer_settings().ordering is Ordering.PER_KEY
    assert config.client_settings().read_timeout == 0.5


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "STREAM_NAME"),
        ({**BASE, "KINESIS_READ_TIMEOUT_SECONDS": "0"}, "KINESIS_READ_TIMEOUT_SECONDS"),
        ({**BASE, "KINESIS_CONNECT_TIMEOUT_SECONDS": "600"}, "KINESIS_CONNECT_TIMEOUT_SECONDS"),
        ({**BASE, "PRODUCER_MAX_ATTEMPTS": "0"}, "PRODUCER_MAX_ATTEMPTS"),
        ({**BASE, "PRODUCER_ORDERING": "sometimes"}, "PRODUCER_ORDERING"),
        ({**BASE, "SPILL_RESERVE_SECONDS": "9", "INGEST_DEADLINE_SECONDS": "8"}, "SPILL_RESERVE_SECONDS"),
        ({**BASE, "PRODUCER_BACKOFF_BASE_SECONDS": "2", "PRODUCER_BACKOFF_CAP_SECONDS": "1"}, "BACKOFF_CAP"),
        ({**BASE, "INGEST_DEADLINE_SECONDS": "3", "SPILL_RESERVE_SECONDS": "1"}, "no room for one Kinesis call"),
        ({**BASE, "SPILL_RESERVE_SECONDS": "1"}, "no room for one SQS call"),
    ],
)
def test_a_bad_environment_fails_with_the_variable_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        IngestConfig.from_env(env)
