"""Hidden tests, TODO 1-3: long random traces against an independent LRU written here."""
import random

import numpy as np
import pytest

from grader.testing import calls
from lab04_adapter_slot_cache import slot_cache as sc


class RefSlots:
    """An LRU slot cache written differently on purpose: timestamps instead of an ordered dict."""

    def __init__(self, n):
        self.table = [None] * n
        self.last = {}               # adapter -> time of last access
        self.pinned = set()
        self.tick = 0
        self.hits = self.loads = self.evictions = 0

    def access(self, a):
        if a == 0:
            return ("base", -1, None)
        self.tick += 1
        if a in self.last:
            self.last[a] = self.tick
            self.hits += 1
            return ("hit", self.table.index(a), None)
        victim = None
        if None not in self.table:
            candidates = [x for x in self.last if x not in self.pinned]
            if not candidates:
                self.tick -= 1
                raise RuntimeError("pinned")
            victim = min(candidates, key=self.last.get)
            del self.last[victim]
            self.table[self.table.index(victim)] = None
            self.evictions += 1
        slot = self.table.index(None)
        self.table[slot] = a
        self.last[a] = self.tick
        self.loads += 1
        return ("evict+load" if victim is not None else "load", slot, victim)

    def resident(self):
        return sorted(self.last, key=self.last.get)


def random_trace(rng, n, n_adapters, base_share=0.1, skew=0.0):
    weights = [1.0 / (k + 1) ** skew for k in range(n_adapters)]
    ids = rng.choices(range(1, n_adapters + 1), weights=weights, k=n)
    return [0 if rng.random() < base_share else a for a in ids]


@pytest.mark.points(4)
@pytest.mark.hint("least recently USED: every hit moves the adapter to the most recent end")
def test_hidden_long_random_traces_match_reference():
    rng = random.Random(4)
    for case in range(24):
        slots = rng.choice([1, 2, 3, 4, 7, 8, 16])
        trace = random_trace(rng, 3000, rng.choice([2, slots, slots + 1, 3 * slots, 50]),
                             base_share=rng.choice([0.0, 0.2]), skew=rng.choice([0.0, 1.0, 2.0]))
        cache, ref = sc.AdapterSlotCache(slots), RefSlots(slots)
        # one round trip into the sandbox for the whole trace: each access, and the state every 97th
        script = []
        for k, a in enumerate(trace):
            script.append(("access", (a,)))
            if k % 97 == 0:
                script += [("resident", ()), ("slot_table", ())]
        out = iter(calls(cache, script + [("hits", ()), ("loads", ()), ("evictions", ()), ("hit_rate", ())]))
        for k, a in enumerate(trace):
            got, want = next(out), ref.access(a)
            assert (got.kind, got.slot, got.evicted) == want, f"case {case}, access #{k} of adapter {a}"
            if k % 97 == 0:
                assert next(out) == ref.resident(), f"case {case}, after access #{k}"
                assert next(out) == ref.table, f"case {case}, after access #{k}"
        assert (next(out), next(out), next(out)) == (ref.hits, ref.loads, ref.evictions)
        assert next(out) == pytest.approx(ref.hits / (ref.hits + ref.loads))


@pytest.mark.points(2)
@pytest.mark.hint("a hit refreshes recency: the adapter just used is never the next victim")
def test_hidden_hit_refreshes_recency():
    for slots in (2, 3, 5):
        cache = sc.AdapterSlotCache(slots)
        for a in range(1, slots + 1):
            cache.access(a)
        cache.access(1)                              # 1 was the oldest; now it is the newest
        assert cache.resident() == list(range(2, slots + 1)) + [1]
        event = cache.access(slots + 1)
        assert event.evicted == 2, f"{slots} slots: the victim must be 2, not the hit adapter 1"
        assert cache.slot_of(1) == 0


@pytest.mark.points(2)
@pytest.mark.hint("an adapter keeps its slot until it leaves; a newcomer takes the victim's slot")
def test_hidden_slot_indices_stable_on_random_traces():
    rng = random.Random(7)
    for slots in (2, 4, 8):
        cache = sc.AdapterSlotCache(slots)
        where = {}
        trace = random_trace(rng, 4000, 3 * slots, base_share=0.05, skew=1.0)
        # one round trip: the slot table before each access, the access, then the table and slots after
        script = []
        for a in trace:
            script += [("slot_table", ()), ("access", (a,))]
        script.append(("slot_table", ()))
        out = calls(cache, script)
        for i, a in enumerate(trace):
            before, event, after = out[2 * i], out[2 * i + 1], out[2 * i + 2]
            if a == 0:
                assert after == before
                continue
            if event.kind == "hit":
                assert event.slot == where[a]
            else:
                assert None in before or event.evicted is not None
                if event.evicted is not None:
                    assert event.slot == where.pop(event.evicted), "the newcomer must take the freed slot"
                else:
                    assert event.slot == before.index(None), "a load takes the lowest free slot"
                where[a] = event.slot
            changed = [i for i in range(slots) if after[i] != before[i]]
            assert changed in ([], [event.slot]), "only the loaded slot may change"
        assert calls(cache, [("slot_of", (x,)) for x in where]) == list(where.values())


@pytest.mark.points(2)
@pytest.mark.hint("capacity is exactly num_slots: no eviction while a slot is free, never more resident")
def test_hidden_capacity_exact():
    for slots in (1, 2, 3, 6):
        cache = sc.AdapterSlotCache(slots)
        for _ in range(3):
            for a in range(1, slots + 1):
                cache.access(a)
        assert cache.evictions == 0 and cache.loads == slots and len(cache.resident()) == slots
        assert cache.access(slots + 1).kind == "evict+load"
        assert len(cache.resident()) == slots and None not in cache.slot_table()


@pytest.mark.points(2)
@pytest.mark.hint("base requests (id 0) take no slot, evict nothing and count as nothing")
def test_hidden_base_is_invisible():
    cache = sc.AdapterSlotCache(1)
    cache.access(3)
    for _ in range(5):
        assert tuple(cache.access(0)) == ("base", -1, None)
    assert cache.resident() == [3] and (cache.hits, cache.loads, cache.evictions) == (0, 1, 0)
    assert cache.access(3).kind == "hit"


@pytest.mark.points(3)
@pytest.mark.hint("evict the least recently used adapter that is NOT pinned")
def test_hidden_pins_on_random_traces():
    rng = random.Random(11)
    for slots, n_pinned in ((2, 1), (4, 2), (5, 4)):
        cache, ref = sc.AdapterSlotCache(slots), RefSlots(slots)
        pinned = rng.sample(range(1, 30), n_pinned)
        for a in pinned:
            got = cache.pin(a)
            ref.access(a)
            ref.pinned.add(a)
            assert got.kind == "load"
        trace = random_trace(rng, 2000, 25, skew=0.5)
        for a, got in zip(trace, calls(cache, [("access", (a,)) for a in trace])):
            want = ref.access(a)
            assert (got.kind, got.slot, got.evicted) == want
            assert got.evicted not in pinned
        assert set(pinned) <= set(cache.resident())


@pytest.mark.points(2)
@pytest.mark.hint("when every slot is pinned, a new adapter is a clear error and nothing changes")
def test_hidden_all_pinned_error_changes_nothing():
    cache = sc.AdapterSlotCache(3)
    for a in (4, 5, 6):
        cache.pin(a)
    cache.access(5)
    state = (cache.resident(), cache.slot_table(), cache.hits, cache.loads, cache.evictions)
    with pytest.raises(RuntimeError, match="pinned"):
        cache.access(7)
    assert (cache.resident(), cache.slot_table(), cache.hits, cache.loads, cache.evictions) == state
    assert cache.access(6).kind == "hit"                      # the cache still works
    cache.unpin(4)
    assert tuple(cache.access(7)) == ("evict+load", 0, 4)
    with pytest.raises(KeyError):
        cache.unpin(4)


@pytest.mark.points(1)
@pytest.mark.hint("remove frees the slot and forgets any pin; the next load takes the lowest free slot")
def test_hidden_remove_then_load():
    cache = sc.AdapterSlotCache(4)
    for a in (1, 2, 3, 4):
        cache.access(a)
    cache.pin(3)
    assert cache.remove(3) == 2 and cache.remove(1) == 0
    assert cache.access(9) == ("load", 0, None)
    assert cache.access(8) == ("load", 2, None)
    assert cache.access(7) == ("evict+load", 1, 2)           # 3 is gone, no pin left behind
    with pytest.raises(ValueError):
        cache.remove(0)


@pytest.mark.points(1)
@pytest.mark.hint("ids are ints >= 0; numpy integers are fine, floats and bools are not")
def test_hidden_id_checks():
    cache = sc.AdapterSlotCache(2)
    assert cache.access(np.int64(3)) == ("load", 0, None)
    assert cache.access(3).kind == "hit"
    for bad in (True, 2.0, -3, None):
        with pytest.raises(ValueError):
            cache.access(bad)
    for bad in (1.0, True, -1):
        with pytest.raises(ValueError):
            sc.AdapterSlotCache(bad)
