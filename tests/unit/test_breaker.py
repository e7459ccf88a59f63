"""The circuit breaker: its threshold, half-open probing, a sink that flaps, operators' forced states,
and the DynamoDB item every execution environment shares."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.fakes import FakeClock
from weir.breaker.circuit import Breaker
from weir.breaker.control import BreakerControl
from weir.breaker.dynamodb import DynamoDBStore
from weir.breaker.state import BreakerSettings, State, Status
from weir.deadline import Deadline


class MemoryStore:
    def __init__(self) -> None:
        self.status = Status()
        self.writes = 0

    def read(self) -> Status:
        return self.status

    def replace(self, expected: Status, new: Status) -> bool:
        if self.status.version != expected.version:
            return False
        self.status = new
        self.writes += 1
        return True

    # the shared run of failures, as DynamoDBStore keeps it
    run_started: float | None = None
    run_count = 0

    def add_failure(self, now: float, window_seconds: float) -> int:
        if self.run_started is None or self.run_started < now - window_seconds:
            self.run_started, self.run_count = now, 1
        else:
            self.run_count += 1
        return self.run_count

    def reset_failures(self) -> None:
        self.run_started, self.run_count = None, 0


class Sink:
    """A sink whose health the test sets; counts probes."""

    def __init__(self) -> None:
        self.up = False
        self.probes = 0

    def probe(self) -> bool:
        self.probes += 1
        return self.up


def breaker(store: MemoryStore, sink: Sink, clock: FakeClock, **settings: float) -> Breaker:
    return Breaker(store, sink.probe, BreakerSettings(**settings), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]


def test_it_opens_after_the_threshold_of_transient_failures_in_a_row_and_a_success_resets_the_count() -> None:
    clock, store, sink = FakeClock(), MemoryStore(), Sink()
    b = breaker(store, sink, clock, failure_threshold=5)
    for _ in range(4):
        b.record_failure("ThrottlingException")
    b.record_success()
    for _ in range(4):
        b.record_failure("ThrottlingException")
    assert b.status(fresh=True).state is State.CLOSED
    b.record_failure("ThrottlingException")
    status = b.status(fresh=True)
    assert status.state is State.OPEN
    assert "5 transient sink failures in a row; last: ThrottlingException" in status.reason
    assert b.blocking()


def test_failures_spread_over_execution_environments_open_it_at_the_threshold() -> None:
    """A failed batch's retries land in whichever environment is free: ten environments that each
    see one failure in a row are one run of ten (make run saw a batch run out of its retries while
    no environment had reached the threshold on its own)."""
    clock, store, sink = FakeClock(), MemoryStore(), Sink()
    environments = [breaker(store, sink, clock, failure_threshold=5) for _ in range(5)]
    for environment in environments[:4]:
        environment.record_failure("ThrottlingException")
    assert store.read().state is State.CLOSED
    environments[4].record_failure("ThrottlingException")
    assert store.read().state is State.OPEN


def test_a_success_anywhere_ends_the_shared_run_and_a_run_lapses_after_its_window() -> None:
    clock, store, sink = FakeClock(), MemoryStore(), Sink()
    first, second = (breaker(store, sink, clock, failure_threshold=3, failure_window_seconds=60) for _ in range(2))
    first.record_failure("ThrottlingException")
    second.record_failure("ThrottlingException")
    first.record_success()  # the sink answered: not an outage
    second.record_success()
    first.record_failure("ThrottlingException")
    assert store.run_count == 1
    assert store.read().state is State.CLOSED
    clock.sleep(61)  # a sink failing now and then: the run lapses
    second.record_failure("ThrottlingException")
    assert store.run_count == 1
    assert store.read().state is State.CLOSED


def test_an_open_breaker_probes_only_after_its_open_time_and_then_every_interval_until_the_deadline() -> None:
    clock, store, sink = FakeClock(), MemoryStore(), Sink()
    b = breaker(store, sink, clock, open_seconds=10, probe_interval_seconds=5)
    b.open("test")
    started = clock()
    assert b.hold(Deadline(32, clock)) is False  # the sink never came back
    assert clock() - started <= 32
    assert sink.probes == 5  # at 10, 15, 20, 25 and 30 s: none before the open time
    assert b.status().state is State.OPEN


def test_a_probe_that_succeeds_half_opens_and_the_first_success_closes() -> None:
    clock, store, sink = FakeClock(), MemoryStore(), Sink()
    b = breaker(store, sink, clock, open_seconds=10, probe_interval_seconds=5)
    b.open("test")
    clock.sleep(12)
    sink.up = True
    assert b.hold(Deadline(30, clock)) is True
    assert b.status().state is State.HALF_OPEN
    assert not b.blocking()  # half-open: batches are processed, and are the trial
    b.record_success()
    assert b.status(fresh=True).state is State.CLOSED


def test_a_failure_while_half_open_reopens_at_once_for_twice_as_long() -> None:
    clock, store, sink = FakeClock(), MemoryStore(), Sink()
    b = breaker(store, sink, clock, open_seconds=10, failure_threshold=50)
    b.open("test")
    assert b.status().hold == 10
    clock.sleep(10)
    sink.up = True
    b.try_probe()
    b.record_failure("ProvisionedThroughputExceededException")  # one is enough when half-open
    status = b.status(fresh=True)
    assert status.state is State.OPEN
    assert status.hold == 20


def test_a_sink_that_flaps_is_probed_less_and_less_often_and_forgiven_after_the_flap_window() -> None:
    clock, store, sink = FakeClock(), MemoryStore(), Sink()
    b = breaker(store, sink, clock, open_seconds=10, max_open_seconds=60, flap_window_seconds=600)
    holds = []
    for _ in range(5):  # up for one probe, down at the next batch
        b.open("flap")
        holds.append(b.status().hold)
        clock.sleep(b.status().hold)
        sink.up = True
        b.try_probe()
        sink.up = False
        b.record_failure("ThrottlingException")
    assert holds == [10, 20, 40, 60, 60]  # doubled each time, up to max_open_seconds
    clock.sleep(b.status().hold)
    sink.up = True
    b.try_probe()
    b.record_success()  # the sink is back for good
    assert b.status(fresh=True).state is State.CLOSED
    clock.sleep(601)
    b.open("much later")
    assert b.status().hold == 10  # quiet for the flap window: back to the first hold


def test_an_operator_forces_it_open_or_closed_until_released() -> None:
    clock, store, sink = FakeClock(), MemoryStore(), Sink()
    b = breaker(store, sink, clock, open_seconds=0, failure_threshold=1)
    b.force(State.OPEN, "maintenance of the sink")
    sink.up = True
    assert b.hold(Deadline(20, clock)) is False  # probes never close a forced breaker
    assert b.status().state is State.OPEN
    b.force(State.CLOSED)
    b.record_failure("ThrottlingException")
    assert b.status(fresh=True).state is State.CLOSED  # failures never open a forced-closed one
    released = b.force(None)
    assert (released.state, released.forced) == (State.CLOSED, False)
    b.record_failure("ThrottlingException")
    assert b.status(fresh=True).state is State.OPEN


def test_execution_environments_sharing_the_item_make_one_transition_not_two() -> None:
    clock, store, sink = FakeClock(), MemoryStore(), Sink()
    first, second = breaker(store, sink, clock), breaker(store, sink, clock)
    seen = first.status(fresh=True)
    assert second.open("second saw it first")
    assert first.open("first, from a stale read", expected=seen) is False
    assert store.writes == 1
    assert first.status().reason == "second saw it first"  # the failed write refreshed its view


def test_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        BreakerSettings(failure_threshold=0)
    with pytest.raises(ValueError, match="probe_interval_seconds"):
        BreakerSettings(probe_interval_seconds=0)
    with pytest.raises(ValueError, match="open_seconds"):
        BreakerSettings(open_seconds=100, max_open_seconds=10)


# --- DynamoDB ------------------------------------------------------------------------------


@pytest.fixture
def dynamodb() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for name, key in (("breaker", "id"), ("events", "event_id")):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield client


def test_the_status_round_trips_through_dynamodb_with_conditional_writes(dynamodb: object) -> None:
    store = DynamoDBStore(dynamodb, "breaker", "process")
    assert store.read() == Status()
    first = Status(State.OPEN, 100.5, 10.0, 1, "throttled", False, 1)
    assert store.replace(Status(), first)
    assert store.read() == first
    assert store.replace(Status(), Status(State.CLOSED, version=1)) is False  # stale
    second = Status(State.HALF_OPEN, 111.0, 10.0, 1, "probe succeeded", False, 2)
    assert store.replace(first, second)
    assert store.read() == second


def test_the_shared_run_of_failures_counts_lapses_and_resets_in_dynamodb(dynamodb: object) -> None:
    store = DynamoDBStore(dynamodb, "breaker", "process")
    assert [store.add_failure(1000.0 + n, 60) for n in range(3)] == [1, 2, 3]
    assert store.add_failure(1061.0, 60) == 1  # 61 s after the run started: a new run
    store.reset_failures()
    assert store.add_failure(1062.0, 60) == 1
    assert store.read() == Status()  # the breaker's own item is another key


# --- the breaker function ------------------------------------------------------------------


class FakeLambda:
    def __init__(self, state: str = "Enabled") -> None:
        self.state = state
        self.updates: list[bool] = []

    def get_event_source_mapping(self, UUID: str) -> dict[str, str]:
        return {"UUID": UUID, "State": self.state}

    def update_event_source_mapping(self, UUID: str, Enabled: bool) -> dict[str, str]:
        self.updates.append(Enabled)
        self.state = "Enabled" if Enabled else "Disabled"
        return {"UUID": UUID, "State": self.state}


def control(clock: FakeClock, lambda_client: FakeLambda, sink: Sink) -> tuple[Breaker, BreakerControl]:
    b = breaker(MemoryStore(), sink, clock, open_seconds=10)
    return b, BreakerControl(b, lambda_client, "mapping-uuid", maximum_record_age=3600, clock=clock)


def test_the_breaker_function_pauses_the_mapping_while_open_and_resumes_only_what_it_paused() -> None:
    clock, sink, lambda_client = FakeClock(), Sink(), FakeLambda()
    b, ctl = control(clock, lambda_client, sink)
    assert ctl.handle({})["mapping_state"] == "Enabled"
    b.open("throttled")
    report = ctl.handle({})
    assert (report["state"], report["mapping_state"], lambda_client.updates) == ("open", "Disabling", [False])
    assert b.status(fresh=True).paused
    clock.sleep(10)
    sink.up = True
    report = ctl.handle({})  # the probe half-opens; the mapping resumes
    assert (report["state"], lambda_client.updates) == ("half_open", [False, True])
    assert not b.status(fresh=True).paused


def test_a_mapping_an_operator_disabled_by_hand_stays_disabled() -> None:
    clock, sink, lambda_client = FakeClock(), Sink(), FakeLambda(state="Disabled")
    _, ctl = control(clock, lambda_client, sink)
    assert ctl.handle({})["mapping_state"] == "Disabled"
    assert lambda_client.updates == []


def test_forced_open_pauses_and_release_resumes() -> None:
    clock, sink, lambda_client = FakeClock(), Sink(), FakeLambda()
    _, ctl = control(clock, lambda_client, sink)
    assert ctl.handle({"force": "open", "reason": "migration"})["mapping_state"] == "Disabling"
    assert ctl.handle({"force": "release"})["mapping_state"] == "Enabling"
    assert lambda_client.updates == [False, True]
    with pytest.raises(ValueError, match="force must be one of"):
        ctl.handle({"force": "sideways"})


def test_key_threads_asking_at_once_read_the_shared_state_once() -> None:
    # GIVEN a breaker whose cached state has expired, and a store slow to answer
    import threading
    import time

    class SlowStore(MemoryStore):
        reads = 0

        def read(self) -> Status:
            SlowStore.reads += 1
            time.sleep(0.2)
            return super().read()

    clock = FakeClock()
    breaker = Breaker(SlowStore(), lambda: True, BreakerSettings(), clock=clock)
    breaker.status()
    clock.now += 5  # past cache_seconds
    SlowStore.reads = 0
    # WHEN 32 key threads ask at once
    threads = [threading.Thread(target=breaker.status) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # THEN one read: the others went on with the state it had
    assert SlowStore.reads == 1
