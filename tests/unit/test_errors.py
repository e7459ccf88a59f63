from __future__ import annotations

import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from tests.fakes import client_error
from weir.errors import ErrorKind, classify, classify_code, error_code


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("LimitExceededException", 400),
        ("ThrottlingException", 400),
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
        ("KMSThrottlingException", 400),
        ("SomethingNew", 500),  # an unknown 5xx is the service's problem: retry
        ("SomethingNew", 429),
    ],
)
def test_throttling_and_server_errors_are_transient(code: str, status: int) -> None:
    assert classify(client_error(code, status)) is ErrorKind.TRANSIENT


@pytest.mark.parametrize(
    "code",
    [
        "ValidationException",
        "InvalidArgumentException",
        "AccessDeniedException",
        "ResourceNotFoundException",
        "KMSDisabledException",
        "KMSNotFoundException",
        "KMSInvalidStateException",
        "KMSAccessDeniedException",
        "SomethingNew",  # an unknown 4xx is the caller's problem: do not burn the deadline on it
    ],
)
def test_validation_access_and_kms_errors_are_permanent(code: str) -> None:
    assert classify(client_error(code, 400)) is ErrorKind.PERMANENT


@pytest.mark.parametrize(
    "exc",
    [
        ReadTimeoutError(endpoint_url="http://x"),
        ConnectTimeoutError(endpoint_url="http://x"),
        EndpointConnectionError(endpoint_url="http://x"),
        ConnectionClosedError(endpoint_url="http://x"),
    ],
)
def test_timeouts_and_dropped_connections_are_transient(exc: Exception) -> None:
    assert classify(exc) is ErrorKind.TRANSIENT


def test_missing_credentials_are_permanent() -> None:
    assert classify(NoCredentialsError()) is ErrorKind.PERMANENT


def test_failed_entry_codes_are_classified_without_a_status() -> None:
    assert classify_code("ProvisionedThroughputExceededException") is ErrorKind.TRANSIENT
    assert classify_code("InternalFailure") is ErrorKind.TRANSIENT
    assert classify_code("KMSDisabledException") is ErrorKind.PERMANENT


def test_error_code_names_the_error() -> None:
    assert error_code(client_error("ThrottlingException")) == "ThrottlingException"
    assert error_code(ReadTimeoutError(endpoint_url="http://x")) == "ReadTimeoutError"
