"""Public tests, TODO 1-3: the LRU slot cache, traced by hand."""
import pytest

from lab04_adapter_slot_cache import slot_cache as sc


@pytest.mark.points(3)
def test_two_slots_by_hand():
    cache = sc.AdapterSlotCache(2)
    # (adapter, expected event, resident LRU -> MRU, what each slot holds)
    steps = [
        (1, ("load", 0, None), [1], [1, None]),           # a free slot: the lowest one
        (2, ("load", 1, None), [1, 2], [1, 2]),
        (1, ("hit", 0, None), [2, 1], [1, 2]),            # a hit makes 1 the most recent
        (3, ("evict+load", 1, 2), [1, 3], [1, 3]),        # so 2 is the victim, and 3 takes ITS slot
        (2, ("evict+load", 0, 1), [3, 2], [2, 3]),
        (0, ("base", -1, None), [3, 2], [2, 3]),          # the base model takes no slot
        (1, ("evict+load", 1, 3), [2, 1], [2, 1]),
    ]
    for adapter, event, resident, table in steps:
        got = cache.access(adapter)
        assert (got.kind, got.slot, got.evicted) == event, f"access({adapter})"
        assert cache.resident() == resident, f"after access({adapter})"
        assert cache.slot_table() == table, f"after access({adapter})"


@pytest.mark.points(1)
def test_counters_by_hand():
    cache = sc.AdapterSlotCache(2)
    for a in [1, 2, 1, 3, 2, 0, 1]:
        cache.access(a)
    # 1 hit, 5 loads (every miss is a load), 3 of them after an eviction; base not counted
    assert (cache.hits, cache.loads, cache.evictions) == (1, 5, 3)
    assert cache.hit_rate == pytest.approx(1 / 6)


@pytest.mark.points(2)
def test_slot_indices_are_stable():
    cache = sc.AdapterSlotCache(3)
    for a in [1, 2, 3]:
        cache.access(a)
    assert cache.access(4) == ("evict+load", 0, 1)     # 1 was least recently used: 4 takes slot 0
    assert cache.access(2) == ("hit", 1, None)         # 2 never moved
    assert cache.access(5) == ("evict+load", 2, 3)     # 3 is now the oldest; 5 takes slot 2
    assert [cache.slot_of(a) for a in (4, 2, 5)] == [0, 1, 2]
    assert cache.slot_of(1) is None and cache.slot_of(0) == -1


@pytest.mark.points(1)
def test_remove_frees_its_slot():
    cache = sc.AdapterSlotCache(3)
    for a in [1, 2, 3]:
        cache.access(a)
    assert cache.remove(2) == 1
    assert cache.access(4) == ("load", 1, None)        # a free slot again: no eviction
    assert cache.evictions == 0
    with pytest.raises(KeyError):
        cache.remove(2)


@pytest.mark.points(2)
def test_pinned_adapter_stays():
    cache = sc.AdapterSlotCache(2)
    assert cache.pin(1) == ("load", 0, None)
    cache.access(2)
    cache.access(3)                                    # 1 is the oldest but pinned: 2 goes
    assert cache.resident() == [1, 3]
    cache.pin(3)
    with pytest.raises(RuntimeError, match="pinned"):
        cache.access(4)                                # nowhere to put it
    assert cache.resident() == [1, 3] and cache.slot_table() == [1, 3]
    cache.unpin(1)
    assert cache.access(4) == ("evict+load", 0, 1)


@pytest.mark.points(1)
def test_bad_input_is_named():
    with pytest.raises(ValueError, match="num_slots"):
        sc.AdapterSlotCache(0)
    cache = sc.AdapterSlotCache(2)
    for bad in (-1, 1.5, "7"):
        with pytest.raises(ValueError, match="adapter"):
            cache.access(bad)
    with pytest.raises(ValueError, match="base"):
        cache.pin(0)
