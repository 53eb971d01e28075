"""Public tests, TODO 4: device slots inside a host cache, traced by hand."""
import pytest

from lab04_adapter_slot_cache import slot_cache as sc


@pytest.mark.points(3)
def test_two_slots_three_in_host_by_hand():
    cache = sc.TwoTierAdapterCache(device_slots=2, host_capacity=3)
    # (adapter, (kind, slot, device_evicted, host_evicted), device LRU -> MRU, host LRU -> MRU)
    steps = [
        (1, ("disk->device", 0, None, None), [1], [1]),
        (2, ("disk->device", 1, None, None), [1, 2], [1, 2]),
        (3, ("disk->device", 0, 1, None), [2, 3], [1, 2, 3]),     # 1 leaves the device, stays in host
        (1, ("host->device", 1, 2, None), [3, 1], [2, 3, 1]),     # back from host memory, not disk
        (1, ("hit", 1, None, None), [3, 1], [2, 3, 1]),
        (4, ("disk->device", 0, 3, 2), [1, 4], [3, 1, 4]),        # host full: its LRU (2) is dropped
        (2, ("disk->device", 1, 1, 3), [4, 2], [1, 4, 2]),        # 2 must come from disk again
    ]
    for adapter, event, device, host in steps:
        got = cache.access(adapter)
        assert tuple(got) == event, f"access({adapter})"
        assert cache.device_resident() == device, f"after access({adapter})"
        assert cache.host_resident() == host, f"after access({adapter})"
    assert (cache.hits, cache.host_loads, cache.disk_loads) == (1, 1, 5)
    assert (cache.device_evictions, cache.host_evictions) == (4, 2)


@pytest.mark.points(2)
def test_host_as_small_as_device():
    cache = sc.TwoTierAdapterCache(2, 2)
    cache.access(1)
    cache.access(2)
    # the host must drop 1, which sits in slot 0: it leaves the device too, freeing slot 0
    assert tuple(cache.access(3)) == ("disk->device", 0, 1, 1)
    assert cache.device_resident() == [2, 3] and cache.host_resident() == [2, 3]


@pytest.mark.points(2)
def test_device_hit_refreshes_host_recency():
    # A hit on the device is an access like any other: it makes the adapter the host's most
    # recent too. Without that, the host's LRU victim can be the adapter just used.
    cache = sc.TwoTierAdapterCache(2, 2)
    cache.access(1)
    cache.access(2)
    assert tuple(cache.access(1)) == ("hit", 0, None, None)
    assert cache.host_resident() == [2, 1], "the device hit on 1 refreshes it in the host too"
    assert tuple(cache.access(3)) == ("disk->device", 1, 2, 2), "the host drops 2, its LRU, not 1"
    cache = sc.TwoTierAdapterCache(2, 3)
    for a in (1, 2, 3, 2, 1):
        cache.access(a)
    assert cache.host_resident() == [3, 2, 1] and cache.device_resident() == [2, 1]
    # the host drops 3 (its LRU, in no slot); the device evicts 2 from slot 1 for 4
    assert tuple(cache.access(4)) == ("disk->device", 1, 2, 3)


@pytest.mark.points(1)
def test_host_smaller_than_device_is_refused():
    with pytest.raises(ValueError, match="host_capacity"):
        sc.TwoTierAdapterCache(4, 3)
    assert tuple(sc.TwoTierAdapterCache(1, 1).access(0)) == ("base", -1, None, None)
