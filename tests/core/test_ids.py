from __future__ import annotations

import itertools
import threading
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.ids import has_prefix, new_id, random_part, timestamp_ms


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


# --- ids that alone grant access (checkout sessions) ------------------------------------------------------


def _mint_on_two_threads(count: int, *, now_ms: int | None = None) -> list[str]:
    """`count` checkout-session ids, half made on each of two threads started together."""
    start = threading.Barrier(2)
    made: list[list[str]] = [[], []]

    def mint(out: list[str]) -> None:
        start.wait()
        out.extend(new_id("cs", now_ms=now_ms) for _ in range(count // 2))

    threads = [threading.Thread(target=mint, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return made[0] + made[1]


def _closest(ids: list[str]) -> int:
    parts = sorted(random_part(i) for i in ids)
    return min(b - a for a, b in itertools.pairwise(parts))


def test_ten_thousand_session_ids_in_one_millisecond_are_far_apart() -> None:
    ids = _mint_on_two_threads(10_000, now_ms=1_795_316_855_000)
    assert len(set(ids)) == 10_000 and {timestamp_ms(i) for i in ids} == {1_795_316_855_000}
    assert _closest(ids) > 2**64


def test_session_ids_made_as_fast_as_possible_predict_nothing() -> None:
    # The real clock: a couple of thousand fall within each millisecond, on both threads.
    ids = _mint_on_two_threads(10_000)
    per_millisecond = Counter(timestamp_ms(i) for i in ids)
    assert max(per_millisecond.values()) > 1
    assert _closest(ids) > 2**64


def test_a_session_id_carries_130_random_bits_after_its_time() -> None:
    made = new_id("cs", now_ms=1_795_316_855_000)
    assert len(made) == len("cs_") + 36 <= 40  # still fits the id columns (String(40))
    assert has_prefix(made, "cs") and timestamp_ms(made) == 1_795_316_855_000
    assert made[3:13] == new_id("pay", now_ms=1_795_316_855_000)[4:14]  # the same time prefix as a ULID
    bits = {random_part(new_id("cs", now_ms=1)).bit_length() for _ in range(200)}
    assert max(bits) == 130
    # The short (guessable) shape of before is not a checkout session id any more.
    assert not has_prefix("cs_01m80kjchcrwx3wm7cpn2751z4", "cs")


def test_session_ids_sort_by_time() -> None:
    earlier, later = new_id("cs", now_ms=1_000), new_id("cs", now_ms=1_001)
    assert earlier < later


def test_ordered_ids_in_one_millisecond_do_not_give_their_neighbours_away() -> None:
    made = [new_id("pay") for _ in range(5000)]
    same_ms = [(a, b) for a, b in itertools.pairwise(made) if timestamp_ms(a) == timestamp_ms(b)]
    assert same_ms, "some ids fall within one millisecond"
    gaps = {random_part(b) - random_part(a) for a, b in same_ms}
    assert min(gaps) >= 2**40 and len(gaps) == len(same_ms)  # never +1, never the same step twice
