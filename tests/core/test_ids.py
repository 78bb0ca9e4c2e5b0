"""Public ids: `<prefix>_` + time + randomness, unique and ordered by creation."""

import re
import threading

import pytest

from trunkline.core import ids
from trunkline.core.ids import PREFIXES, id_factory, looks_like, new_id, new_ids

ID = re.compile(r"[a-z]{3}_[0-9a-hjkmnp-tv-z]{26}")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_prefix_and_shape(prefix):
    value = id_factory(prefix)()
    assert value.startswith(prefix + "_")
    assert ID.fullmatch(value)
    assert looks_like(prefix, value)
    assert len(value) <= 40  # the id columns' width


def test_unknown_prefixes_are_refused():
    with pytest.raises(ValueError):
        id_factory("zzz")


def test_unique():
    values = [new_id("tnt") for _ in range(20_000)]
    assert len(set(values)) == len(values)


def test_ordered_by_creation_even_within_a_millisecond():
    values = [new_id("evt") for _ in range(5_000)]
    assert values == sorted(values)


def test_unique_and_ordered_across_threads():
    results: list[list[str]] = [[] for _ in range(4)]

    def make(slot):
        results[slot].extend(new_id("aud") for _ in range(2_000))

    threads = [threading.Thread(target=make, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [value for chunk in results for value in chunk]
    assert len(set(everything)) == len(everything)
    for chunk in results:
        assert chunk == sorted(chunk)


def test_the_time_part_is_the_creation_time():
    import time

    before = int(time.time() * 1000)
    value = new_id("tnt")
    after = int(time.time() * 1000)
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    millis = 0
    for char in value[4:14]:
        millis = millis * 32 + alphabet.index(char)
    assert before <= millis <= after + 1


def test_looks_like():
    assert not looks_like("tnt", "ptr_01abc")
    assert not looks_like("tnt", None)
    assert not looks_like("tnt", "tnt_" + "x" * 80)


def test_ids_made_in_bulk_sort_between_the_ids_made_before_and_after():
    before = new_id("cdr")
    bulk = new_ids("cdr", 3_000)
    after = new_id("cdr")
    assert len(set(bulk)) == 3_000 and all(ID.fullmatch(value) for value in bulk)
    assert [before, *bulk, after] == sorted([before, *bulk, after])
    assert new_ids("cdr", 0) == []


def test_a_random_part_that_runs_out_carries_into_the_next_millisecond(monkeypatch):
    import time

    future = int(time.time() * 1000) + 10**6
    monkeypatch.setattr(ids, "_last", [future, (1 << 80) - 2])
    values = new_ids("cdr", 3)
    assert values == sorted(values)
    assert values[1].endswith("0" * 16) and values[2].endswith("0" * 15 + "1")
    assert values[0][4:14] < values[1][4:14]  # the millisecond moved on
