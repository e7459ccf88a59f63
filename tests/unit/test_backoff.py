from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weir.backoff import Backoff


@given(
    base=st.floats(min_value=0.001, max_value=5),
    extra=st.floats(min_value=0, max_value=60),
    retry=st.integers(min_value=0, max_value=10_000),
    seed=st.integers(),
)
def test_delay_stays_between_zero_and_the_capped_exponential_ceiling(
    base: float, extra: float, retry: int, seed: int
) -> None:
    # GIVEN any backoff and any retry number
    backoff = Backoff(base=base, cap=base + extra, rng=random.Random(seed))
    # WHEN a delay is drawn
    delay = backoff.delay(retry)
    # THEN it is full jitter: anywhere in [0, min(cap, base * 2**retry)]
    assert 0.0 <= delay <= backoff.ceiling(retry) <= backoff.cap
    assert backoff.ceiling(retry) == min(backoff.cap, base * 2.0 ** min(retry, 62))


def test_ceiling_doubles_until_the_cap() -> None:
    backoff = Backoff(base=0.1, cap=1.0)
    assert [backoff.ceiling(n) for n in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_delays_spread_over_the_whole_range() -> None:
    # Full jitter, not "equal jitter" or a fixed delay: clients that failed together must not retry together.
    backoff = Backoff(base=1.0, cap=1.0, rng=random.Random(7))
    delays = [backoff.delay(0) for _ in range(2000)]
    assert min(delays) < 0.05
    assert max(delays) > 0.95
    assert 0.45 < sum(delays) / len(delays) < 0.55


@pytest.mark.parametrize(("base", "cap"), [(0, 1), (-1, 1), (1, 0.5)])
def test_invalid_settings_are_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base=base, cap=cap)


def test_negative_retry_number_is_refused() -> None:
    with pytest.raises(ValueError, match="retry number"):
        Backoff().delay(-1)
