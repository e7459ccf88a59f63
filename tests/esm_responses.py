"""What each recorded batch-item-failures scenario's function answered (LocalStack's parametrization of
test_kinesis_report_batch_item_{success,failure}_scenarios), by the scenario's name."""

from __future__ import annotations

from typing import Any

RESPONSES: dict[str, Any] = {
    # a response the mapping takes as success, by the recorded scenario's name
    "empty_string_success": "",
    "empty_list_success": [],
    "null_success": None,
    "empty_dict_success": {},
    "empty_batch_item_failure_success": {"batchItemFailures": []},
    "null_batch_item_failure_success": {"batchItemFailures": None},
    # ... and one that fails the whole batch
    "item_identifier_not_present_failure": {"batchItemFailures": [{"itemIdentifier": 123}]},
    "empty_string_item_identifier_failure": {"batchItemFailures": [{"itemIdentifier": ""}]},
    "null_item_identifier_failure": {"batchItemFailures": [{"itemIdentifier": None}]},
    "invalid_key_foo_failure": {"batchItemFailures": [{"foo": 123}]},
    "invalid_key_foo_null_value_failure": {"batchItemFailures": [{"foo": None}]},
}
