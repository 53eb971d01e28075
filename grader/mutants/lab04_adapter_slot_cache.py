"""Plausible wrong answers for lab04 (adapter slots); each must score below full marks.

The ones the issue names — FIFO instead of LRU, a head-of-line barrier, base counted as an
adapter, deferred order lost, capacity off by one, a hit that does not refresh recency, the
evicted slot not reused — and the simulator and thrash-arithmetic slips next to them.
"""
from grader.mutants import Mutant

MUTANTS = [
    # --- the slot cache (TODO 1-3) ------------------------------------------------------------
    Mutant("fifo_not_lru",
           "            lru.move_to_end(adapter_id)\n            self.hits += 1\n",
           "            self.hits += 1\n",
           "a hit leaves the order alone: the cache evicts in load order (FIFO), not LRU",
           public_passes=False),
    Mutant("capacity_off_by_one",
           "if len(lru) >= self.num_slots:",
           "if len(lru) >= self.num_slots - 1:",
           "evicts while one slot is still free: only num_slots - 1 adapters ever resident",
           public_passes=False),
    Mutant("evicted_slot_not_reused",
           "            slot = lru.pop(evicted)\n",
           "            lru.pop(evicted)\n            slot = len(lru)\n",
           "the newcomer goes 'at the end' instead of into the slot its victim freed",
           public_passes=False),
    Mutant("base_takes_a_slot",
           '        if adapter_id == BASE:\n            return SlotEvent("base", -1, None)\n',
           "",
           "the base model (id 0) is loaded into a slot like an adapter", public_passes=False),
    Mutant("pins_ignored",
           "evicted = next((a for a in lru if a not in self._pinned), None)",
           "evicted = next(iter(lru), None)",
           "evicts the least recently used adapter even when it is pinned", public_passes=False),
    Mutant("lowest_free_slot_ignored",
           "            slot = self._slots.index(None)\n",
           "            slot = len(lru)\n",
           "a load after remove() takes slot len(resident) instead of the lowest free slot",
           public_passes=False),
    # --- the two tiers (TODO 4) ---------------------------------------------------------------
    Mutant("host_hit_does_not_refresh",
           "            host.move_to_end(adapter_id)\n",
           "",
           "a hit refreshes recency on the device only: the host tier drops adapters in load order",
           public_passes=False),
    Mutant("host_not_refreshed_on_device_hit",
           "            host.move_to_end(adapter_id)\n            event = self.device.access(adapter_id)\n",
           "            if adapter_id not in self.device:\n                host.move_to_end(adapter_id)\n"
           "            event = self.device.access(adapter_id)\n",
           "refreshes the host's recency on a host->device load but not on a device hit",
           public_passes=False),   # test_device_hit_refreshes_host_recency
    # (Not a mutant: forgetting to free the device slot of an adapter the host drops. Both tiers
    # refresh on every access, so the host's victim sits in a slot only when host_capacity ==
    # device_slots, and then it is also the device's own LRU victim: the outcome is the same.)
    Mutant("host_check_looks_at_device",
           "        if adapter_id in host:\n",
           "        if adapter_id in self.device:\n",
           "asks the device, not the host: every device miss is read from disk again",
           public_passes=False),
    # --- the scheduler (TODO 5) ---------------------------------------------------------------
    Mutant("barrier_on_first_overflow",
           "                deferred.append(request)\n                continue\n",
           "                deferred.append(request)\n                break\n",
           "stops at the first request that does not fit: a head-of-line barrier",
           public_passes=False),
    Mutant("base_counted",
           "if adapter != BASE and adapter not in step_loras:",
           "if adapter not in step_loras:",
           "counts the base model as one of the max_loras adapters", public_passes=False),
    Mutant("deferred_order_lost",
           "deferred.append(request)",
           "deferred.insert(0, request)",
           "collects the deferred with appendleft and never reverses them back", public_passes=False),
    Mutant("running_adapters_not_counted",
           "step_loras = {a for a in running if a != BASE}",
           "step_loras = set()",
           "starts each step's adapter set empty, forgetting the running requests' adapters",
           public_passes=False),
    Mutant("max_num_seqs_ignores_running",
           "budget = max_num_seqs - len(running)",
           "budget = max_num_seqs",
           "admits max_num_seqs new requests on top of the running ones", public_passes=False),
    # --- the simulator (TODO 6) ---------------------------------------------------------------
    Mutant("sim_access_per_request",
           "            if a and a not in seen:\n",
           "            if a:\n",
           "touches the cache once per request, so repeats within a step inflate the hit rate",
           public_passes=False),
    Mutant("sim_wait_off_by_one",
           "waits[rid] = t - arrivals[rid]",
           "waits[rid] = t - arrivals[rid] + 1",
           "counts the step a request runs in as waiting", public_passes=False),
    Mutant("sim_deferred_to_the_back",
           "            waiting.extendleft(reversed(deferred))\n",
           "            waiting.extend(deferred)\n",
           "puts deferred requests behind the newcomers instead of at the front", public_passes=False),
    Mutant("sim_running_forgotten",
           "schedule_step(waiting, max_loras, max_num_seqs, running)",
           "schedule_step(waiting, max_loras, max_num_seqs, [])",
           "schedules each step as if nothing were running", public_passes=False),
    # --- thrash arithmetic (TODO 7-10) --------------------------------------------------------
    Mutant("cyclic_rounds_ignored",
           "return 1.0 if rounds is None else (rounds - 1) / rounds",
           "return 1.0",
           "forgets that the first round of a cycle always misses", public_passes=False),
    Mutant("static_assumes_sorted",
           "sum(sorted(w, reverse=True)[:slots])",
           "sum(w[:slots])",
           "keeps the first adapters in the list, not the most popular ones"),
    Mutant("knee_strictly_above",
           "if acc / total >= target - 1e-12:",
           "if acc / total > target:",
           "asks for more than the target: exactly reaching it should count", public_passes=False),
]

# The lab page's trap table, row by row (its first cell, exactly): the mutants that stand for it.
# grader/tests/test_mutants.py requires each to fail a public test its row names.
TRAPS = {
    "FIFO instead of LRU: a hit that does not refresh recency in the slots": ("fifo_not_lru",),
    "a device hit that does not refresh the host tier's recency": ("host_not_refreshed_on_device_hit",),
    "no refresh in the host tier at all": ("host_hit_does_not_refresh",),
    "capacity off by one": ("capacity_off_by_one",),
    "the newcomer not taking the evicted slot; slots reshuffled": ("evicted_slot_not_reused",),
    "pins ignored, or a failed load that half-changes the cache": ("pins_ignored",),
    "device not inside host; disk loads on host hits": ("host_check_looks_at_device",),
    "a head-of-line barrier at the first overflow": ("barrier_on_first_overflow",),
    "deferred order lost (`appendleft` without the second reversal)": ("deferred_order_lost",),
    "the base model counted as an adapter": ("base_counted",),
    "running requests forgotten (their adapters, or their places in `max_num_seqs`)":
        ("running_adapters_not_counted", "max_num_seqs_ignores_running"),
    "one cache access per request instead of per adapter per step": ("sim_access_per_request",),
    "keeping the first adapters of the list instead of the most popular": ("static_assumes_sorted",),
}
