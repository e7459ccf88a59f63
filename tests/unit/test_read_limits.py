"""The local endpoint's shared read limits per shard: 5 GetRecords calls/s and 2 MiB/s for every
standard consumer together, followed from iterator to iterator."""

from __future__ import annotations

from local.kinesis.limits import MIB, ShardReadLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_five_calls_a_second_per_shard_whoever_makes_them() -> None:
    clock = Clock()
    limiter = ShardReadLimiter(clock=clock)
    for n in range(7):
        limiter.note(f"it-{n}", "s/shard-0")
    answers = [limiter.admit(f"it-{n}") for n in range(6)]
    assert answers[:5] == [(True, "s/shard-0")] * 5
    assert answers[5] == (False, "s/shard-0")  # two consumers polling 3 times a second each
    limiter.note("other", "s/shard-1")
    assert limiter.admit("other") == (True, "s/shard-1")  # another shard has its own budget
    clock.now = 1.0
    assert limiter.admit("it-5") == (True, "s/shard-0")  # the refused iterator is still good
    assert (limiter.admitted, limiter.throttled) == (7, 1)


def test_a_large_answer_holds_the_shards_next_calls_back_until_the_bytes_refill() -> None:
    clock = Clock()
    limiter = ShardReadLimiter(clock=clock)
    limiter.note("a", "s/shard-0")
    assert limiter.admit("a")[0]
    # a 10 MiB answer: the second's 2 MiB and 8 MiB more, which the shard's 2 MiB/s repays in 4 s
    limiter.charge("s/shard-0", 10 * MIB)
    limiter.note("b", "s/shard-0")
    clock.now = 3.9
    assert limiter.admit("b") == (False, "s/shard-0")
    clock.now = 4.0
    assert limiter.admit("b") == (True, "s/shard-0")


def test_an_iterator_it_never_saw_is_admitted_and_a_disabled_limiter_admits_everything() -> None:
    limiter = ShardReadLimiter(clock=Clock())
    assert limiter.admit("unknown") == (True, None)
    limiter.enabled = False
    for n in range(10):
        limiter.note(f"it-{n}", "s/shard-0")
        assert limiter.admit(f"it-{n}")[0]
    assert limiter.throttled == 0
