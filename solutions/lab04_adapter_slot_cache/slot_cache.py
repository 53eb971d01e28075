"""Lab 04 — where adapters live while they serve, and who gets to run in a step.

An engine keeps the adapters it is using in a fixed number of pre-allocated device slots
(``max_loras``), with a larger host-memory cache behind them (``max_cpu_loras``). The scheduler
must never put more distinct adapters into one step than there are slots. This module models
both halves at toy scale, in plain Python:

    AdapterSlotCache      the device slots, managed least-recently-used (TODO 1-3)
    TwoTierAdapterCache   device slots inside a host cache; misses go to disk (TODO 4)
    schedule_step         the per-step max_loras admission rule that defers without blocking (TODO 5)
    simulate              a request trace through scheduler and slots, step by step (TODO 6)
    thrash arithmetic     what LRU does to cyclic, uniform and skewed traffic (TODO 7-10)

This is part 1, counted in steps. Part 2, the same machinery in seconds, is ``workloads.py``
next to this file (TODO 11-15); it imports what it needs from here.

The words used:

    adapter id   an int >= 1 (vLLM's ``lora_int_id``); 0 means "no adapter" (the base model):
                 base requests never take a slot and never count against max_loras
    slot         an index 0 .. num_slots-1 into the engine's stacked adapter buffers
    request      a pair ``(request_id, adapter_id)``; ``Request`` below is one, but any pair works
    step         one scheduler iteration (one forward pass of the engine)

Bad input (a negative or non-integer id, zero slots, a host cache smaller than the device)
raises ValueError naming the problem; the ``check_*`` helpers below do it (``check_count``,
``check_adapter_id``, ``check_weights``, ``check_trace``): call them.
"""
from __future__ import annotations

import random
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from itertools import accumulate, islice
from typing import Iterable, NamedTuple, Sequence

# --------------------------------------------------------------------------------------------
# Course-provided types, checks and trace generators (not part of the exercise).
# --------------------------------------------------------------------------------------------

BASE = 0                   # the adapter id of a request without an adapter


class SlotEvent(NamedTuple):
    """What one ``AdapterSlotCache.access`` did.

    kind     "hit"         the adapter was already in a slot
             "load"        it was copied into a free slot
             "evict+load"  every slot was taken: the least recently used adapter was evicted
                           and the new one copied into the slot it freed
             "base"        adapter id 0: nothing happens, no slot is used
    slot     the slot index the adapter now occupies (-1 for the base model, as in vLLM's
             per-token slot mapping)
    evicted  the id that was evicted, or None
    """
    kind: str
    slot: int
    evicted: int | None = None


class TwoTierEvent(NamedTuple):
    """What one ``TwoTierAdapterCache.access`` did.

    kind            "hit"           already in a device slot
                    "host->device"  in the host cache: copied from host memory into a slot
                    "disk->device"  in neither: read from disk into the host cache, then into a slot
                    "base"          adapter id 0
    slot            the device slot it now occupies (-1 for the base model)
    device_evicted  the id that lost its device slot during this access, or None
    host_evicted    the id dropped from the host cache during this access, or None
    """
    kind: str
    slot: int
    device_evicted: int | None = None
    host_evicted: int | None = None


class Request(NamedTuple):
    """One waiting request: any ``(request_id, adapter_id)`` pair works the same."""
    request_id: int
    adapter_id: int


class StepPlan(NamedTuple):
    """What ``schedule_step`` decided; unpacks as ``admitted, deferred = schedule_step(...)``.

    admitted  the requests that run this step, in queue order
    deferred  the requests skipped because their adapter would exceed max_loras, in queue order
    Requests after the walk stopped (max_num_seqs reached) are in neither list.
    """
    admitted: list
    deferred: list


@dataclass
class SimReport:
    """What ``simulate`` measured.

    requests    how many requests the trace had
    steps       how many scheduler steps ran (from step 0 to the last step that did anything)
    hits, loads, evictions   the slot cache's counters over the whole run (one access per
                distinct adapter per step)
    deferrals   per step (length ``steps``): how many requests were skipped for max_loras
    waits       per request, in trace order: admission step - arrival step
    """
    requests: int
    steps: int
    hits: int
    loads: int
    evictions: int
    deferrals: list = field(default_factory=list)
    waits: list = field(default_factory=list)

    @property
    def accesses(self) -> int:
        return self.hits + self.loads

    @property
    def hit_rate(self) -> float:
        return self.hits / self.accesses if self.accesses else 0.0

    @property
    def total_deferrals(self) -> int:
        return sum(self.deferrals)

    @property
    def mean_wait(self) -> float:
        return sum(self.waits) / len(self.waits) if self.waits else 0.0

    @property
    def max_wait(self) -> int:
        return max(self.waits, default=0)


class AllSlotsPinnedError(RuntimeError):
    """Every slot holds a pinned adapter, so a new one has nowhere to go."""


def check_count(n, name: str, low: int = 1) -> int:
    """An int >= low (bools are not counts), else ValueError naming ``name``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < low:
        raise ValueError(f"{name} must be an int >= {low}, got {n!r}")
    return n


def check_index(x, name: str, what: str = "an int >= 0") -> int:
    """An int >= 0. Integer-like numbers (numpy ints) are accepted and returned as int;
    anything else (floats, bools, negatives) raises ValueError naming ``name``."""
    if x.__class__ is int and x >= 0:          # the fast path
        return x
    if isinstance(x, bool) or not hasattr(x, "__index__") or x.__index__() < 0:
        raise ValueError(f"{name} must be {what}, got {x!r}")
    return x.__index__()


def check_adapter_id(adapter_id, name: str = "adapter_id") -> int:
    """An adapter id: an int >= 0 (0 is the base model), else ValueError naming it."""
    return check_index(adapter_id, name, "an int >= 0 (0 = base model)")


def zipf_weights(n_adapters: int, s: float = 1.0) -> list[float]:
    """Zipf popularity: adapter k (1-based) gets weight proportional to 1 / k**s; sums to 1.

    s = 0 is uniform; s = 1 is the classic "a few tenants get most of the traffic"."""
    check_count(n_adapters, "n_adapters")
    if not s >= 0:
        raise ValueError(f"s must be >= 0, got {s!r}")
    w = [1.0 / k ** s for k in range(1, n_adapters + 1)]
    total = sum(w)
    return [x / total for x in w]


def cyclic_ids(n_requests: int, n_adapters: int) -> list[int]:
    """1, 2, ..., n_adapters, 1, 2, ...: the pattern that defeats LRU."""
    check_count(n_requests, "n_requests", 0)
    check_count(n_adapters, "n_adapters")
    return [i % n_adapters + 1 for i in range(n_requests)]


def check_weights(weights) -> list[float]:
    """Per-adapter popularity weights: a non-empty sequence of numbers >= 0, not all zero.
    Returns them as a list of floats; ValueError otherwise."""
    try:
        values = [float(x) for x in weights]
    except (TypeError, ValueError):
        raise ValueError(f"weights must be a sequence of numbers, got {weights!r}") from None
    if not values or any(not x >= 0 for x in values) or sum(values) <= 0:
        raise ValueError("weights must be a non-empty list of non-negative numbers, not all zero")
    return values


def random_ids(n_requests: int, weights: Sequence[float], *, base_share: float = 0.0,
               seed: int = 0) -> list[int]:
    """``n_requests`` adapter ids drawn independently: id k+1 with probability proportional to
    ``weights[k]``; with probability ``base_share`` a request has no adapter (id 0)."""
    check_count(n_requests, "n_requests", 0)
    weights = check_weights(weights)
    if not 0.0 <= base_share <= 1.0:
        raise ValueError(f"base_share must be in [0, 1], got {base_share!r}")
    rng = random.Random(seed)
    ids = rng.choices(range(1, len(weights) + 1), cum_weights=list(accumulate(weights)), k=n_requests)
    if base_share > 0:
        ids = [0 if rng.random() < base_share else a for a in ids]
    return ids


def steady_arrivals(adapter_ids: Sequence[int], per_step: int) -> list[tuple[int, int]]:
    """A trace for ``simulate``: ``per_step`` requests arrive at each step, in the given order."""
    check_count(per_step, "per_step")
    return [(i // per_step, a) for i, a in enumerate(adapter_ids)]


# --------------------------------------------------------------------------------------------
# The device slots: an LRU cache of adapters with stable slot indices.
# --------------------------------------------------------------------------------------------

class AdapterSlotCache:
    """``num_slots`` device slots, least-recently-used, like vLLM's LRUCacheLoRAModelManager.

    State (set up for you; keep it up to date in your methods):
        self.num_slots   int
        self._lru        OrderedDict {adapter_id: slot}, least recently used first
        self._slots      list of length num_slots: the adapter id in each slot, or None
        self._pinned     set of adapter ids that may not be evicted
        self.hits, self.loads, self.evictions   counters (a "load" is any miss: every miss
                         copies an adapter into a slot, evicting first when none is free)
    Rules:
        * a hit refreshes recency; a miss loads into the lowest free slot, or, when every slot
          is taken, evicts the least recently used unpinned adapter and takes ITS slot;
        * an adapter keeps its slot index until it leaves (no reshuffling);
        * id 0 (the base model) never takes a slot and is not counted.
    """

    def __init__(self, num_slots: int):
        self.num_slots = check_count(num_slots, "num_slots")
        self._lru: OrderedDict[int, int] = OrderedDict()
        self._slots: list[int | None] = [None] * num_slots
        self._pinned: set[int] = set()
        self.hits = 0
        self.loads = 0
        self.evictions = 0

    # --- views (course-provided) -------------------------------------------------------------

    @property
    def accesses(self) -> int:
        return self.hits + self.loads

    @property
    def hit_rate(self) -> float:
        """hits / accesses (base accesses are not counted); 0.0 before any access."""
        return self.hits / self.accesses if self.accesses else 0.0

    def resident(self) -> list[int]:
        """The adapters in slots, least recently used first."""
        return list(self._lru)

    def slot_of(self, adapter_id: int) -> int | None:
        """The slot holding ``adapter_id``; None when it is not resident; -1 for the base model."""
        aid = check_adapter_id(adapter_id)
        return -1 if aid == BASE else self._lru.get(aid)

    def slot_table(self) -> list[int | None]:
        """What each slot holds, by slot index (None = empty): vLLM's ``lora_index_to_id``."""
        return list(self._slots)

    def pinned(self) -> set[int]:
        return set(self._pinned)

    def unpin(self, adapter_id: int) -> None:
        """Let a pinned adapter be evicted again (KeyError if it is not pinned)."""
        aid = check_adapter_id(adapter_id)
        if aid not in self._pinned:
            raise KeyError(f"adapter {aid} is not pinned")
        self._pinned.remove(aid)

    def __contains__(self, adapter_id) -> bool:
        return adapter_id in self._lru

    def __len__(self) -> int:
        return len(self._lru)

    def __repr__(self) -> str:
        return (f"AdapterSlotCache(num_slots={self.num_slots}, slots={self._slots}, "
                f"hits={self.hits}, loads={self.loads}, evictions={self.evictions})")

    # --- TODO 1 ------------------------------------------------------------------------------

    def access(self, adapter_id: int) -> SlotEvent:
        """Make ``adapter_id`` resident for this step and say what that took.

        Returns SlotEvent("hit", slot), SlotEvent("load", slot) (lowest free slot) or
        SlotEvent("evict+load", slot, evicted) (the least recently used unpinned adapter is
        evicted and the new one takes its slot). Id 0 returns SlotEvent("base", -1) and changes
        nothing. Raises AllSlotsPinnedError (a RuntimeError) when a new adapter arrives and every
        slot holds a pinned one; the cache is then left exactly as it was.
        """
        # BEGIN SOLUTION TODO 1
        if adapter_id.__class__ is not int or adapter_id < 0:
            adapter_id = check_adapter_id(adapter_id)
        if adapter_id == BASE:
            return SlotEvent("base", -1, None)
        lru = self._lru
        slot = lru.get(adapter_id)
        if slot is not None:
            lru.move_to_end(adapter_id)
            self.hits += 1
            return SlotEvent("hit", slot, None)
        evicted = None
        if len(lru) >= self.num_slots:
            evicted = next((a for a in lru if a not in self._pinned), None)
            if evicted is None:
                raise AllSlotsPinnedError(
                    f"all {self.num_slots} slots hold pinned adapters ({sorted(self._pinned)}), so "
                    f"adapter {adapter_id} cannot be loaded; unpin one first")
            slot = lru.pop(evicted)
            self.evictions += 1
        else:
            slot = self._slots.index(None)
        self._slots[slot] = adapter_id
        lru[adapter_id] = slot
        self.loads += 1
        return SlotEvent("load" if evicted is None else "evict+load", slot, evicted)
        # END SOLUTION

    # --- TODO 2 ------------------------------------------------------------------------------

    def remove(self, adapter_id: int) -> int:
        """Take ``adapter_id`` out of its slot (vLLM's ``deactivate_adapter``); returns the slot
        it freed. The next load takes the lowest free slot. Not counted as an eviction.
        A pinned adapter can be removed (vLLM's deactivate_adapter does not check pins): it
        leaves its slot and is no longer pinned. Raises KeyError if it is not resident;
        ValueError for id 0."""
        # BEGIN SOLUTION TODO 2
        adapter_id = check_adapter_id(adapter_id)
        if adapter_id == BASE:
            raise ValueError("adapter id 0 is the base model: it never occupies a slot")
        if adapter_id not in self._lru:
            raise KeyError(f"adapter {adapter_id} is not in a slot (resident: {list(self._lru)})")
        slot = self._lru.pop(adapter_id)
        self._slots[slot] = None
        self._pinned.discard(adapter_id)
        return slot
        # END SOLUTION

    # --- TODO 3 ------------------------------------------------------------------------------

    def pin(self, adapter_id: int) -> SlotEvent:
        """Keep ``adapter_id`` resident until unpinned (vLLM's ``pin_adapter``).

        Pinning is an access (it loads the adapter if needed, counted like any other) followed
        by marking it unevictable; returns that access's SlotEvent. Raises ValueError for id 0,
        and AllSlotsPinnedError when the adapter is not resident and every slot is pinned.
        """
        # BEGIN SOLUTION TODO 3
        adapter_id = check_adapter_id(adapter_id)
        if adapter_id == BASE:
            raise ValueError("adapter id 0 is the base model: it has no slot to pin")
        event = self.access(adapter_id)
        self._pinned.add(adapter_id)
        return event
        # END SOLUTION


# --------------------------------------------------------------------------------------------
# Two tiers: device slots inside a host-memory cache.
# --------------------------------------------------------------------------------------------

class TwoTierAdapterCache:
    """``device_slots`` LRU slots (max_loras) inside an LRU host cache of ``host_capacity``
    adapters (max_cpu_loras), like vLLM's LRUCacheWorkerLoRAManager. host_capacity must be
    >= device_slots (vLLM's LoRAConfig refuses less), else ValueError.

    State (set up for you):
        self.device   an AdapterSlotCache(device_slots): use its access() and remove()
        self._host    OrderedDict {adapter_id: None}, least recently used first
        counters      hits, host_loads, disk_loads, device_evictions, host_evictions
    Invariant after every access: every adapter in a device slot is also in the host cache.
    """

    def __init__(self, device_slots: int, host_capacity: int):
        check_count(device_slots, "device_slots")
        check_count(host_capacity, "host_capacity")
        if host_capacity < device_slots:
            raise ValueError(f"host_capacity ({host_capacity}) must be >= device_slots "
                             f"({device_slots}): the host cache holds every adapter in a slot")
        self.device_slots = device_slots
        self.host_capacity = host_capacity
        self.device = AdapterSlotCache(device_slots)
        self._host: OrderedDict[int, None] = OrderedDict()
        self.hits = 0
        self.host_loads = 0
        self.disk_loads = 0
        self.device_evictions = 0
        self.host_evictions = 0

    @property
    def accesses(self) -> int:
        return self.hits + self.host_loads + self.disk_loads

    @property
    def hit_rate(self) -> float:
        return self.hits / self.accesses if self.accesses else 0.0

    def device_resident(self) -> list[int]:
        """Adapters in device slots, least recently used first."""
        return self.device.resident()

    def host_resident(self) -> list[int]:
        """Adapters in the host cache, least recently used first."""
        return list(self._host)

    def slot_of(self, adapter_id: int) -> int | None:
        return self.device.slot_of(adapter_id)

    # --- TODO 4 ------------------------------------------------------------------------------

    def access(self, adapter_id: int) -> TwoTierEvent:
        """Make ``adapter_id`` resident on the device for this step.

        * in a device slot: "hit";
        * in the host cache only: "host->device" (the device may evict its LRU adapter, which
          stays in the host cache);
        * in neither: "disk->device": if the host cache is full, its least recently used adapter
          is dropped first (and, if it sat in a device slot, leaves that slot too); then the
          adapter enters the host cache and a device slot.
        Every access refreshes the adapter's recency in BOTH tiers, a device hit included.
        device_evictions counts every adapter that leaves a device slot, whether the device
        evicted it or the host dropped it; the event's device_evicted names it. Id 0 returns
        TwoTierEvent("base", -1) and changes nothing.
        """
        # BEGIN SOLUTION TODO 4
        adapter_id = check_adapter_id(adapter_id)
        if adapter_id == BASE:
            return TwoTierEvent("base", -1, None, None)
        host = self._host
        host_evicted = device_evicted = None
        if adapter_id in host:
            host.move_to_end(adapter_id)
            event = self.device.access(adapter_id)
            kind = "hit" if event.kind == "hit" else "host->device"
        else:
            if len(host) >= self.host_capacity:
                host_evicted, _ = host.popitem(last=False)
                self.host_evictions += 1
                if host_evicted in self.device:
                    self.device.remove(host_evicted)
                    device_evicted = host_evicted
            host[adapter_id] = None
            event = self.device.access(adapter_id)
            kind = "disk->device"
        if event.evicted is not None:
            device_evicted = event.evicted
        if device_evicted is not None:
            self.device_evictions += 1
        if kind == "hit":
            self.hits += 1
        elif kind == "host->device":
            self.host_loads += 1
        else:
            self.disk_loads += 1
        return TwoTierEvent(kind, event.slot, device_evicted, host_evicted)
        # END SOLUTION


# --------------------------------------------------------------------------------------------
# The scheduler's rule.
# --------------------------------------------------------------------------------------------

# --- TODO 5 ----------------------------------------------------------------------------------

def schedule_step(waiting: Iterable, max_loras: int, max_num_seqs: int,
                  running_adapters: Iterable[int] = ()) -> StepPlan:
    """Admit waiting requests for one step, as vLLM 0.32.0's scheduler does.

    waiting            the queue, front first: (request_id, adapter_id) pairs
    max_loras          most distinct adapters (id >= 1) in one step
    max_num_seqs       most requests in one step, running ones included
    running_adapters   the adapter id of each request already running this step, one entry per
                       request (0 for a base request); their adapters are in this step's set
    Walk the queue in order. Stop when running + admitted reaches max_num_seqs. A request is
    admitted if its adapter is the base model, is already in this step's set, or the set still
    has room (then its adapter joins the set); otherwise it is deferred and the walk goes on:
    no head-of-line barrier. Returns StepPlan(admitted, deferred), each in queue order; the
    deferred go back to the front of the queue, ahead of the requests not reached, so the next
    queue is the old one without the admitted requests, order unchanged.
    Raises ValueError when max_loras or max_num_seqs < 1, when more requests are running than
    max_num_seqs, or the running requests already use more than max_loras adapters.
    """
    # BEGIN SOLUTION TODO 5
    check_count(max_loras, "max_loras")
    check_count(max_num_seqs, "max_num_seqs")
    running = [check_adapter_id(a, "running adapter id") for a in running_adapters]
    if len(running) > max_num_seqs:
        raise ValueError(f"{len(running)} requests are running but max_num_seqs is {max_num_seqs}")
    step_loras = {a for a in running if a != BASE}
    if len(step_loras) > max_loras:
        raise ValueError(f"running requests already use {len(step_loras)} adapters "
                         f"({sorted(step_loras)}), more than max_loras={max_loras}")
    budget = max_num_seqs - len(running)
    admitted: list = []
    deferred: list = []
    if budget == 0:
        return StepPlan(admitted, deferred)
    for request in waiting:
        try:
            adapter = request[1]
        except (TypeError, IndexError, KeyError):
            raise ValueError(f"a waiting request must be a (request_id, adapter_id) pair, got {request!r}") from None
        if adapter.__class__ is not int or adapter < 0:
            adapter = check_adapter_id(adapter, f"adapter id of request {request!r}")
        if adapter != BASE and adapter not in step_loras:
            if len(step_loras) >= max_loras:
                deferred.append(request)
                continue
            step_loras.add(adapter)
        admitted.append(request)
        if len(admitted) == budget:
            break
    return StepPlan(admitted, deferred)
    # END SOLUTION


# --------------------------------------------------------------------------------------------
# The simulator.
# --------------------------------------------------------------------------------------------

def check_trace(trace) -> tuple[list[int], list[int]]:
    """``trace``: a sequence of (arrival_step, adapter_id), arrival steps ints >= 0 and
    non-decreasing. Returns (arrivals, adapter_ids) as two lists of ints; ValueError otherwise."""
    if not isinstance(trace, (list, tuple)):
        trace = list(trace)
    try:                                   # the fast path: a clean trace of plain ints
        arrivals = [s for s, _ in trace]
        ids = [a for _, a in trace]
        if (set(map(type, arrivals)) <= {int} and set(map(type, ids)) <= {int}
                and min(arrivals, default=0) >= 0 and min(ids, default=0) >= 0
                and all(map(int.__le__, arrivals, islice(arrivals, 1, None)))):
            return arrivals, ids
    except (TypeError, ValueError):
        pass
    arrivals, ids = [], []               # the slow path finds the first bad entry and names it
    last = 0
    for k, item in enumerate(trace):
        try:
            step, adapter = item
        except (TypeError, ValueError):
            raise ValueError(f"trace[{k}] must be an (arrival_step, adapter_id) pair, got {item!r}") from None
        step = check_index(step, f"trace[{k}] arrival step")
        if step < last:
            raise ValueError(f"trace[{k}] arrives at step {step}, before trace[{k - 1}] (step {last}): "
                             "sort the trace by arrival step")
        arrivals.append(step)
        ids.append(check_adapter_id(adapter, f"trace[{k}] adapter id"))
        last = step
    return arrivals, ids


# --- TODO 6 ----------------------------------------------------------------------------------

def simulate(trace, max_loras: int, max_num_seqs: int, *, service_steps: int = 1) -> SimReport:
    """Replay ``trace`` through ``schedule_step`` and an ``AdapterSlotCache(max_loras)``.

    trace          (arrival_step, adapter_id) pairs sorted by arrival (check with check_trace);
                   request k of the trace has request_id k
    service_steps  how many consecutive steps an admitted request runs (>= 1)
    Each step t = 0, 1, 2, ...:
      1. requests arriving at step t join the back of the waiting queue, in trace order;
      2. the requests admitted in the last ``service_steps - 1`` steps are running;
      3. schedule_step(waiting, max_loras, max_num_seqs, their adapters) picks who joins;
         the admitted leave the queue, everything else keeps its order;
      4. the step's distinct adapters are accessed in the cache, once each, never id 0: the
         running requests' adapters first (in the order those requests were admitted), then
         the admitted requests' (in queue order), each at its first appearance;
      5. each admitted request's wait is t - its arrival step; record the step's deferrals.
    The run ends after the last step in which anything was waiting, running or arriving; steps
    with nothing to do still count (0 deferrals). Returns a SimReport.
    """
    # BEGIN SOLUTION TODO 6
    check_count(max_loras, "max_loras")
    check_count(max_num_seqs, "max_num_seqs")
    check_count(service_steps, "service_steps")
    arrivals, ids = check_trace(trace)
    n = len(ids)
    cache = AdapterSlotCache(max_loras)
    access = cache.access
    waiting: deque = deque()
    batches: deque = deque()           # (admit step, [adapter ids admitted that step])
    running: list[int] = []
    waits = [0] * n
    deferrals: list[int] = []
    t = i = 0
    while True:
        if batches and batches[0][0] <= t - service_steps:          # requests that finished
            while batches and batches[0][0] <= t - service_steps:
                batches.popleft()
            running = [a for _, b in batches for a in b]
        if not waiting and not batches:
            if i == n:
                break
            if arrivals[i] > t:                                       # idle: jump to the next arrival
                deferrals.extend([0] * (arrivals[i] - t))
                t = arrivals[i]
        while i < n and arrivals[i] <= t:
            waiting.append((i, ids[i]))
            i += 1
        admitted, deferred = schedule_step(waiting, max_loras, max_num_seqs, running)
        for _ in range(len(admitted) + len(deferred)):
            waiting.popleft()
        if deferred:
            waiting.extendleft(reversed(deferred))
        now = [a for _, a in admitted]
        seen = set()
        for a in running + now if running else now:
            if a and a not in seen:
                seen.add(a)
                access(a)
        for rid, _ in admitted:
            waits[rid] = t - arrivals[rid]
        if service_steps > 1 and now:
            batches.append((t, now))
            running = running + now
        deferrals.append(len(deferred))
        t += 1
    return SimReport(n, t, cache.hits, cache.loads, cache.evictions, deferrals, waits)
    # END SOLUTION


# --------------------------------------------------------------------------------------------
# Thrash arithmetic.
# --------------------------------------------------------------------------------------------

# --- TODO 7 ----------------------------------------------------------------------------------

def lru_hit_rate_cyclic(n_adapters: int, slots: int, rounds: int | None = None) -> float:
    """Hit rate of an LRU cache of ``slots`` slots on the cyclic pattern 1, 2, ..., n, 1, 2, ...

    rounds=None: the steady state. With rounds=R >= 1: exactly R full cycles (R * n accesses)
    from an empty cache; rounds=0 (no accesses, no hit rate) raises ValueError. When n > slots every access misses, whatever R: each adapter is
    evicted just before it comes back.
    """
    # BEGIN SOLUTION TODO 7
    n_adapters, slots = check_count(n_adapters, "n_adapters"), check_count(slots, "slots")
    if rounds is not None:
        check_count(rounds, "rounds")
    if n_adapters > slots:
        return 0.0
    return 1.0 if rounds is None else (rounds - 1) / rounds
    # END SOLUTION


# --- TODO 8 ----------------------------------------------------------------------------------

def replay_hit_rate(adapter_ids: Iterable[int], num_slots: int) -> float:
    """The hit rate of ``adapter_ids`` accessed one by one through a fresh
    AdapterSlotCache(num_slots); base requests (id 0) are not counted."""
    # BEGIN SOLUTION TODO 8
    cache = AdapterSlotCache(num_slots)
    for a in adapter_ids:
        cache.access(a)
    return cache.hit_rate
    # END SOLUTION


# --- TODO 9 ----------------------------------------------------------------------------------

def static_hit_rate(weights: Sequence[float], slots: int) -> float:
    """The best hit rate any cache of ``slots`` slots can have when requests pick adapters
    independently with probabilities proportional to ``weights`` (weights[k] for adapter k+1):
    keep the ``slots`` most popular adapters resident. Returns their share of the traffic."""
    # BEGIN SOLUTION TODO 9
    check_count(slots, "slots")
    w = check_weights(weights)
    return min(1.0, sum(sorted(w, reverse=True)[:slots]) / sum(w))
    # END SOLUTION


# --- TODO 10 ---------------------------------------------------------------------------------

def knee_slots(weights: Sequence[float], target: float) -> int:
    """The fewest slots whose ``static_hit_rate`` reaches ``target`` (0 < target <= 1), with a
    tolerance of 1e-12 for rounding. Uniform traffic needs a share of slots equal to the target;
    skewed traffic far fewer."""
    # BEGIN SOLUTION TODO 10
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be in (0, 1], got {target!r}")
    w = check_weights(weights)
    total, acc = sum(w), 0.0
    for k, x in enumerate(sorted(w, reverse=True), 1):
        acc += x
        if acc / total >= target - 1e-12:
            return k
    return len(w)
    # END SOLUTION
