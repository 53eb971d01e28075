"""Hidden tests, TODO 4: the two-tier cache against an independent model, and its invariants."""
import random

import pytest

from grader.testing import calls
from lab04_adapter_slot_cache import slot_cache as sc


class RefTwoTier:
    """Device slots and host cache with timestamps; the host drops its least recently used."""

    def __init__(self, device, host):
        self.table = [None] * device
        self.host = {}               # adapter -> last access time
        self.cap = host
        self.tick = 0

    def on_device(self):
        return [a for a in self.table if a is not None]

    def access(self, a):
        if a == 0:
            return ("base", -1, None, None)
        self.tick += 1
        dev_ev = host_ev = None
        if a in self.host:
            kind = "hit" if a in self.table else "host->device"
        else:
            kind = "disk->device"
            if len(self.host) == self.cap:
                host_ev = min(self.host, key=self.host.get)
                del self.host[host_ev]
                if host_ev in self.table:
                    self.table[self.table.index(host_ev)] = None
                    dev_ev = host_ev
        self.host[a] = self.tick
        if kind == "hit":
            return (kind, self.table.index(a), None, None)
        if None not in self.table:
            dev_ev = min(self.on_device(), key=self.host.get)
            self.table[self.table.index(dev_ev)] = None
        slot = self.table.index(None)
        self.table[slot] = a
        return (kind, slot, dev_ev, host_ev)

    def device_lru(self):
        return sorted(self.on_device(), key=self.host.get)

    def host_lru(self):
        return sorted(self.host, key=self.host.get)


def trace(rng, n, n_adapters, skew):
    w = [1.0 / (k + 1) ** skew for k in range(n_adapters)]
    ids = rng.choices(range(1, n_adapters + 1), weights=w, k=n)
    return [0 if rng.random() < 0.1 else a for a in ids]


@pytest.mark.points(4)
@pytest.mark.hint("each access refreshes recency in both tiers; the host drops its own LRU adapter")
def test_hidden_two_tier_random_traces_match_reference():
    rng = random.Random(5)
    for case in range(20):
        device = rng.choice([1, 2, 3, 4])
        host = device + rng.choice([0, 1, 2, 5, 10])
        cache, ref = sc.TwoTierAdapterCache(device, host), RefTwoTier(device, host)
        ids = trace(rng, 2500, rng.choice([host, host + 3, 30]), rng.choice([0.0, 1.0]))
        script = []
        for k, a in enumerate(ids):
            script.append(("access", (a,)))
            if k % 53 == 0:
                script += [("device_resident", ()), ("host_resident", ())]
        out = iter(calls(cache, script))           # the whole trace in one round trip
        for k, a in enumerate(ids):
            got, want = tuple(next(out)), ref.access(a)
            assert got == want, f"case {case} (device {device}, host {host}), access #{k} of adapter {a}"
            if k % 53 == 0:
                assert next(out) == ref.device_lru()
                assert next(out) == ref.host_lru()


@pytest.mark.points(3)
@pytest.mark.hint("device is a subset of host; disk loads happen only on host misses")
def test_hidden_two_tier_invariants():
    rng = random.Random(9)
    for device, host in ((1, 1), (2, 2), (2, 5), (4, 6), (3, 12)):
        cache = sc.TwoTierAdapterCache(device, host)
        counts = {"hit": 0, "host->device": 0, "disk->device": 0}
        dev_ev = host_ev = 0
        ids = trace(rng, 3000, 20, 1.0)
        script = []
        for a in ids:
            script += [("host_resident", ()), ("device_resident", ()), ("access", (a,)), ("device_resident", ()),
                       ("host_resident", ()), ("slot_of", (a,))]
        out = calls(cache, script)                 # the whole trace in one round trip
        for i, a in enumerate(ids):
            host_before, device_before, ev, device_after, host_after, slot = out[6 * i:6 * i + 6]
            on_host, on_device = a in host_before, a in device_before
            if a == 0:
                assert ev.kind == "base"
                continue
            counts[ev.kind] += 1
            dev_ev += ev.device_evicted is not None
            host_ev += ev.host_evicted is not None
            assert ev.kind == ("hit" if on_device else "host->device" if on_host else "disk->device")
            assert set(device_after) <= set(host_after), "device must be inside host"
            assert len(device_after) <= device and len(host_after) <= host
            assert slot == ev.slot and device_after[-1] == a
            assert host_after[-1] == a
            assert ev.host_evicted is None or ev.kind == "disk->device"
        assert (cache.hits, cache.host_loads, cache.disk_loads) == tuple(counts.values())
        assert (cache.device_evictions, cache.host_evictions) == (dev_ev, host_ev)
        assert cache.hit_rate == pytest.approx(counts["hit"] / sum(counts.values()))


@pytest.mark.points(1)
@pytest.mark.hint("a bigger host cache turns disk loads into host loads, never into more disk loads")
def test_hidden_bigger_host_fewer_disk_loads():
    rng = random.Random(2)
    ids = trace(rng, 5000, 40, 1.0)
    disk = []
    for host in (4, 8, 16, 40):
        cache = sc.TwoTierAdapterCache(4, host)
        disk.append(calls(cache, [("access", (a,)) for a in ids] + [("disk_loads", ())])[-1])
    assert disk == sorted(disk, reverse=True)
    assert disk[-1] == len(set(ids) - {0})           # room for all: each adapter read from disk once

