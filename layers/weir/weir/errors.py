"""Classify AWS errors as transient (retry with backoff) or permanent (never retry).

Retrying a permanent error wastes the deadline and hides the real problem (a disabled KMS key
does not come back by itself); not retrying a transient one loses data that one more attempt
would have written.
"""

from __future__ import annotations

from enum import Enum

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotocoreConnectionError,
)
from botocore.exceptions import (
    HTTPClientError as BotocoreHTTPClientError,
)


class ErrorKind(Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


# Error codes AWS services use for throttling and for their own failures. A request that got
# one of these can succeed unchanged a moment later.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "InternalServiceError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSThrottlingException",
        "TransactionInProgressException",
    }
)

# Error codes that no retry will fix: the request, the caller's permissions or the resource
# must change first.
PERMANENT_ERROR_CODES = frozenset(
    {
        "ValidationException",
        "InvalidArgumentException",
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "ResourceNotFoundException",
        "ResourceInUseException",
        "KMSDisabledException",
        "KMSNotFoundException",
        "KMSInvalidStateException",
        "KMSAccessDeniedException",
        "KMSOptInRequired",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    }
)

_TRANSIENT_TRANSPORT_ERRORS = (
    ReadTimeoutError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ConnectionClosedError,
    BotocoreConnectionError,
    BotocoreHTTPClientError,
)


def classify_code(code: str, http_status: int | None = None) -> ErrorKind:
    """Classify an AWS error code (a whole-call error or a failed PutRecords entry)."""
    if code in TRANSIENT_ERROR_CODES:
        return ErrorKind.TRANSIENT
    if code in PERMANENT_ERROR_CODES:
        return ErrorKind.PERMANENT
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return ErrorKind.TRANSIENT
    # An unknown 4xx is the caller's fault until proven otherwise: retrying it only burns the
    # deadline. An unknown code with no status (a failed batch entry) is treated the same way.
    return ErrorKind.PERMANENT


def classify(exc: BaseException) -> ErrorKind:
    """Classify an exception raised by a botocore client call."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return classify_code(str(error.get("Code", "")), status)
    if isinstance(exc, _TRANSIENT_TRANSPORT_ERRORS):
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def error_code(exc: BaseException) -> str:
    """A short, stable name for an error, used in per-record outcomes and metrics."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def aws_cause(exc: BaseException) -> BaseException:
    """The botocore error behind ``exc`` (a library may wrap it: Powertools' idempotency raises its
    own error from the ClientError), or ``exc`` itself when there is none."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ClientError | BotoCoreError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return exc
