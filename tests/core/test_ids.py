"""Public ids: `<prefix>_` + time + randomness, unique and ordered by creation."""

import re
import threading

import pytest

from trunkline.core.ids import PREFIXES, id_factory, looks_like, new_id

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
