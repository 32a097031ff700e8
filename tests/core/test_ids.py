from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.ids import has_prefix, new_id, timestamp_ms


@given(st.integers(min_value=0, max_value=2**48 - 2), st.integers(min_value=1, max_value=10**6))
def test_ids_sort_by_creation_time(earlier: int, gap: int) -> None:
    later = min(earlier + gap, 2**48 - 1)
    a, b = new_id("pay", now_ms=earlier), new_id("pay", now_ms=later)
    assert a < b
    assert timestamp_ms(a) == earlier and timestamp_ms(b) == later


def test_ids_carry_their_prefix_and_are_random() -> None:
    ids = {new_id("ten", now_ms=1) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(has_prefix(i, "ten") and not has_prefix(i, "usr") for i in ids)


@pytest.mark.parametrize(
    "junk", ["", "ten_", "ten_short", "pay_" + "u" * 26, "ten-01" + "0" * 24, "ten_" + "I" * 26]
)
def test_malformed_ids_are_recognised(junk: str) -> None:
    assert not has_prefix(junk, "ten")


def test_unknown_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        new_id("nope")


def test_ids_made_one_after_another_sort_in_that_order() -> None:
    made = [new_id("psh") for _ in range(5000)]  # many fall within one millisecond
    assert made == sorted(made) and len(set(made)) == len(made)
