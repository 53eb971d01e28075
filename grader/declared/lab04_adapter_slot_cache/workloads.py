"""Lab 04, part 2 — workloads in time: arrivals, popularity, lengths, and the latency they cause.

Part 1 (``slot_cache.py``) counted steps. This part gives each step a modelled cost in seconds,
so a request's wait, its time to first token (TTFT) and its end-to-end latency come out in
seconds, and a trace is a list of requests that arrive at times, not at steps:

    arrival_times         a gamma (Poisson at cv = 1) arrival process in seconds (TODO 11)
    draw_adapters         distinct / uniform / zipf / identical popularity, a base share (TODO 12)
    simulate_timed        part 1's scheduler rule and two-tier cache, with step costs in seconds (TODO 13)
    latency_summary       throughput, TTFT percentiles, SLO attainment, fairness (TODO 14)
    padded_vs_paged       slot memory: vLLM's padded slots against S-LoRA's pages (TODO 15)

The trace format (``TraceRequest``, one JSON object a line) is the one lab 02's server replays
on the real engine. ``simulate_timed`` uses your part 1 ``TwoTierAdapterCache``: finish TODO 4
first. Bad input raises ValueError naming the problem, as in part 1 (the ``check_*`` helpers).
"""
from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from itertools import accumulate, islice
from typing import NamedTuple, Sequence

# Part 1's pieces this part builds on (a relative import: the lab is one package).
from .slot_cache import (BASE, TwoTierAdapterCache, check_adapter_id, check_count, check_index, cyclic_ids,
                         random_ids, zipf_weights)

# --------------------------------------------------------------------------------------------
# Course-provided types, checks, trace files and generators (not part of the exercise).
# --------------------------------------------------------------------------------------------

class TraceRequest(NamedTuple):
    """One request of a timed trace (one line of a trace file).

    arrival_s      when it arrives, seconds from the start of the trace (>= 0, non-decreasing)
    adapter        its adapter id (0 = the base model)
    rank           its adapter's LoRA rank (0 for the base model, >= 1 otherwise)
    prompt_tokens  prompt length (>= 1): the work of its first step (prefill)
    output_tokens  tokens it generates (>= 1): the first at the end of its admission step,
                   one more in each later step it runs
    """
    arrival_s: float
    adapter: int
    rank: int
    prompt_tokens: int
    output_tokens: int


TRACE_FIELDS = TraceRequest._fields


@dataclass(frozen=True)
class StepCosts:
    """The modelled cost of one engine step, in seconds; the defaults are illustrative
    (order of magnitude for a 7B model on one data-centre GPU) until lab 02 measures its own.

    step duration = base_step_s
                  + per_token_s   x tokens in the step (a newcomer's prompt, 1 per running request)
                  + per_adapter_s x distinct adapters in the step (never the base model)
                  + host_load_s   x adapters copied host -> device this step
                  + disk_load_s   x adapters read from disk this step
    """
    base_step_s: float = 0.015
    per_token_s: float = 0.00005
    per_adapter_s: float = 0.0005
    host_load_s: float = 0.002
    disk_load_s: float = 0.030

    def __post_init__(self):
        for name in ("base_step_s", "per_token_s", "per_adapter_s", "host_load_s", "disk_load_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"StepCosts.{name} must be a number >= 0, got {value!r}")
        if not self.base_step_s > 0:
            raise ValueError("StepCosts.base_step_s must be > 0: every step takes some time")


@dataclass
class TimedReport:
    """What ``simulate_timed`` measured. Per-request lists are in trace order.

    requests    how many requests the trace had
    steps       how many engine steps ran (idle time between requests is not a step)
    duration_s  the clock when the last request finished (0.0 for an empty trace)
    hits, host_loads, disk_loads, device_evictions, host_evictions
                the two-tier cache's counters (one access per distinct adapter per step)
    queue_s     per request: start of its admission step - its arrival
    ttft_s      per request: end of its admission step (its first token) - its arrival
    e2e_s       per request: end of the step that produced its last token - its arrival
    """
    requests: int
    steps: int
    duration_s: float
    hits: int
    host_loads: int
    disk_loads: int
    device_evictions: int
    host_evictions: int
    queue_s: list = field(default_factory=list)
    ttft_s: list = field(default_factory=list)
    e2e_s: list = field(default_factory=list)

    @property
    def loads(self) -> int:
        return self.host_loads + self.disk_loads


class LatencySummary(NamedTuple):
    """What ``latency_summary`` reports for one run. Latencies in seconds.

    throughput_rps   requests / duration_s
    ttft_p50_s, ttft_p90_s, ttft_p99_s, e2e_p50_s, e2e_p99_s
                     percentiles over every request of the trace, base requests included
    slo_attainment   the share of requests whose TTFT is <= the SLO bound
    fairness         the worst-served adapter's p99 TTFT / the median of the adapters' p99 TTFTs
                     (adapters with id >= 1 only; 1.0 when every adapter is served alike)
    """
    throughput_rps: float
    ttft_p50_s: float
    ttft_p90_s: float
    ttft_p99_s: float
    e2e_p50_s: float
    e2e_p99_s: float
    slo_attainment: float
    fairness: float


class MemoryReport(NamedTuple):
    """What ``padded_vs_paged`` found. Bytes.

    padded_bytes   every one of max_loras slots reserved at max_lora_rank (vLLM's layout)
    paged_bytes    only the ranks the resident adapters have (S-LoRA's unified paging)
    wasted_share   1 - paged_bytes / padded_bytes: the share of the padded reservation that is padding
    """
    padded_bytes: int
    paged_bytes: int
    wasted_share: float


def check_number(x, name: str, low: float = 0.0) -> float:
    """A real number >= low (bools are not numbers), returned as float; else ValueError."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not x >= low:
        if hasattr(x, "__float__") and not isinstance(x, bool) and float(x) >= low:
            return float(x)
        raise ValueError(f"{name} must be a number >= {low}, got {x!r}")
    return float(x)


def check_timed_trace(trace) -> tuple[list, list, list, list, list]:
    """``trace``: TraceRequests (or 5-tuples in TraceRequest's order), sorted by arrival.
    Returns five lists (arrival_s, adapter, rank, prompt_tokens, output_tokens);
    ValueError naming the first bad request otherwise."""
    if not isinstance(trace, (list, tuple)):
        trace = list(trace)
    try:                                   # the fast path: clean tuples of plain numbers
        cols = [list(c) for c in zip(*trace)] if trace else [[], [], [], [], []]
        if len(cols) == 5 and all(len(t) == 5 for t in trace):
            at, ad, rk, pt, ot = cols
            if (set(map(type, at)) <= {float, int} and set(map(type, ad)) <= {int}
                    and set(map(type, rk)) <= {int} and set(map(type, pt)) <= {int}
                    and set(map(type, ot)) <= {int} and min(at, default=0) >= 0
                    and min(ad, default=0) >= 0 and min(pt, default=1) >= 1 and min(ot, default=1) >= 1
                    and all(map(float.__le__, map(float, at), map(float, islice(at, 1, None))))
                    and all((a == 0) == (r == 0) and r >= 0 for a, r in zip(ad, rk))):
                return [float(x) for x in at], ad, rk, pt, ot
    except (TypeError, ValueError):
        pass
    cols = ([], [], [], [], [])           # the slow path names the first bad request
    last = 0.0
    for k, item in enumerate(trace):
        try:
            arrival, adapter, rank, prompt, output = item
        except (TypeError, ValueError):
            raise ValueError(f"trace[{k}] must be a TraceRequest(arrival_s, adapter, rank, "
                             f"prompt_tokens, output_tokens), got {item!r}") from None
        arrival = check_number(arrival, f"trace[{k}].arrival_s")
        if arrival < last:
            raise ValueError(f"trace[{k}] arrives at {arrival} s, before trace[{k - 1}] ({last} s): "
                             "sort the trace by arrival_s")
        adapter = check_adapter_id(adapter, f"trace[{k}].adapter")
        rank = check_index(rank, f"trace[{k}].rank")
        if (adapter == BASE) != (rank == 0):
            raise ValueError(f"trace[{k}]: adapter {adapter} with rank {rank}: the base model "
                             "(adapter 0) has rank 0 and every adapter a rank >= 1")
        prompt = check_count(check_index(prompt, f"trace[{k}].prompt_tokens"), f"trace[{k}].prompt_tokens")
        output = check_count(check_index(output, f"trace[{k}].output_tokens"), f"trace[{k}].output_tokens")
        for col, v in zip(cols, (arrival, adapter, rank, prompt, output)):
            col.append(v)
        last = arrival
    return cols


def write_trace(path, trace) -> int:
    """Write a timed trace as JSON lines, one TraceRequest a line; returns how many."""
    import json
    cols = check_timed_trace(trace)
    with open(path, "w", encoding="utf-8") as f:
        for row in zip(*cols):
            f.write(json.dumps(dict(zip(TRACE_FIELDS, row))) + "\n")
    return len(cols[0])


def read_trace(path) -> list[TraceRequest]:
    """Read a JSON-lines trace written by ``write_trace`` (or by hand: one object a line with
    the keys arrival_s, adapter, rank, prompt_tokens, output_tokens; blank lines are skipped).
    ValueError names the file and line of the first bad one."""
    import json
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
            if not isinstance(obj, dict) or set(obj) != set(TRACE_FIELDS):
                got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
                raise ValueError(f"{path}:{n}: expected an object with the keys {list(TRACE_FIELDS)}, got {got}")
            out.append(TraceRequest(*(obj[k] for k in TRACE_FIELDS)))
    try:
        check_timed_trace(out)
    except ValueError as e:
        raise ValueError(f"{path}: {e} (trace[k] is the k-th request, 0-based)") from None
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 <= q <= 100) with linear interpolation between the two nearest
    ranks, as ``numpy.percentile``'s default: the sorted values at positions (n - 1) * q / 100."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q!r}")
    xs = sorted(values)
    if not xs:
        raise ValueError("percentile of no values")
    h = (len(xs) - 1) * q / 100
    lo = int(h)
    if lo + 1 >= len(xs):
        return float(xs[-1])
    return float(xs[lo] + (h - lo) * (xs[lo + 1] - xs[lo]))


def lengths(n_requests: int, spec, *, seed: int = 0) -> list[int]:
    """Token counts: ``spec`` an int (every request the same) or a pair (lo, hi), drawn uniformly
    from lo..hi inclusive with random.Random(seed)."""
    check_count(n_requests, "n_requests", 0)
    if isinstance(spec, int) and not isinstance(spec, bool):
        return [check_count(spec, "length")] * n_requests
    try:
        lo, hi = spec
        lo, hi = check_count(lo, "length lo"), check_count(hi, "length hi")
    except (TypeError, ValueError):
        raise ValueError(f"a length must be an int >= 1 or a pair (lo, hi) of them, got {spec!r}") from None
    if lo > hi:
        raise ValueError(f"length range ({lo}, {hi}) is empty")
    rng = random.Random(seed)
    return [rng.randint(lo, hi) for _ in range(n_requests)]


def ranks_for(adapter_ids: Sequence[int], rank_mix: Sequence[int]) -> list[int]:
    """Each request's rank from its adapter's: adapter k has rank_mix[(k - 1) % len(rank_mix)]
    (so a mix (64, 32, 16, 8) gives adapters 1, 5, 9, ... rank 64); the base model rank 0."""
    mix = [check_count(r, "rank") for r in rank_mix]
    if not mix:
        raise ValueError("rank_mix must name at least one rank")
    return [mix[(a - 1) % len(mix)] if a else 0 for a in adapter_ids]


def make_trace(n_requests: int, rate: float, *, cv: float = 1.0, kind: str = "zipf",
               n_adapters: int = 8, alpha: float = 1.5, base_share: float = 0.0,
               rank_mix: Sequence[int] = (16,), prompt=(16, 256), output=(16, 128),
               seed: int = 0) -> list[TraceRequest]:
    """A whole trace from your TODO 11 and 12: arrivals at ``rate`` requests/s with burstiness
    ``cv``, adapters drawn as ``kind``, ranks from ``rank_mix``, lengths from ``prompt`` and
    ``output`` (int or (lo, hi)). Each part uses its own seed derived from ``seed``."""
    arrivals = arrival_times(n_requests, rate, cv=cv, seed=seed)
    ids = draw_adapters(kind, n_requests, n_adapters, alpha=alpha, base_share=base_share, seed=seed + 1)
    return [TraceRequest(*row) for row in zip(arrivals, ids, ranks_for(ids, rank_mix),
                                              lengths(n_requests, prompt, seed=seed + 2),
                                              lengths(n_requests, output, seed=seed + 3))]


# --- TODO 11 ---------------------------------------------------------------------------------

def arrival_times(n_requests: int, rate: float, *, cv: float = 1.0, seed: int = 0) -> list[float]:
    """Arrival times of a gamma renewal process: ``rate`` requests per second on average, gaps
    with coefficient of variation ``cv`` (std / mean of a gap). cv = 1 is a Poisson process;
    cv > 1 is burstier (S-LoRA's traces), cv < 1 more regular; cv = 0 spaces requests exactly.

    A gamma gap with shape k and scale theta has mean k * theta and cv 1 / sqrt(k). Draw the
    ``n_requests`` gaps, in order, with ``random.Random(seed).gammavariate(shape, scale)``
    (cv = 0: every gap is exactly the mean, no random numbers). Arrival i is the sum of the
    first i + 1 gaps, so the first request arrives after one gap, not at 0.
    ValueError when rate <= 0 or cv < 0.
    """
    raise NotImplementedError("lab04_adapter_slot_cache TODO 11: arrival_times — see labs/lab04_adapter_slot_cache/README.md")


# --- TODO 12 ---------------------------------------------------------------------------------

POPULARITY = ("distinct", "uniform", "zipf", "identical")


def draw_adapters(kind: str, n_requests: int, n_adapters: int, *, alpha: float = 1.5,
                  base_share: float = 0.0, seed: int = 0) -> list[int]:
    """The adapter of each request, in the four shapes Punica's and SGLang's benchmarks use:

    "distinct"   every request a different adapter, as far as n_adapters allows:
                 1, 2, ..., n_adapters, 1, 2, ... (``cyclic_ids``)
    "uniform"    each request picks one of the n_adapters with equal probability
    "zipf"       adapter k (k = 1 .. n_adapters) with probability proportional to 1 / k**alpha
    "identical"  every request adapter 1
    Then, for every kind, each request independently runs on the base model (id 0) with
    probability ``base_share``. Random draws: "uniform" and "zipf" are
    ``random_ids(n_requests, weights, base_share=base_share, seed=seed)``; for "distinct" and
    "identical", request i becomes 0 when the i-th ``random.Random(seed).random()`` is
    < base_share (no draws at all when base_share is 0).
    ValueError for an unknown kind, alpha < 0 or base_share outside [0, 1].
    """
    raise NotImplementedError("lab04_adapter_slot_cache TODO 12: draw_adapters — see labs/lab04_adapter_slot_cache/README.md")


# --- TODO 13 ---------------------------------------------------------------------------------

def simulate_timed(trace, max_loras: int, max_num_seqs: int, max_cpu_loras: int | None = None,
                   costs: StepCosts = StepCosts()) -> TimedReport:
    """Replay a timed trace through the scheduler's rule and a two-tier cache, in seconds.

    trace          TraceRequests sorted by arrival_s (check with check_timed_trace);
                   request k of the trace has request_id k
    max_cpu_loras  the host cache's capacity (vLLM's default: max_loras)
    The engine runs steps back to back on a clock that starts at 0. Each step, starting at t:
      1. if nothing is waiting or running, the clock first jumps to the next arrival;
         then every request with arrival_s <= t joins the back of the waiting queue;
      2. the running requests are those admitted earlier that still have tokens to make;
      3. admission is part 1's rule, schedule_step(waiting, max_loras, max_num_seqs, running
         requests' adapters); the admitted leave the queue, the rest keep their order;
      4. the step's adapters are the distinct adapters (never id 0) of running and admitted
         requests, in the order they joined the step's set: an adapter joins when a request
         brings it while none of its requests runs, and leaves when its last one finishes.
         Each is accessed once in a TwoTierAdapterCache(max_loras, max_cpu_loras), in that order;
      5. the step lasts costs.base_step_s + per_token_s x (prompt_tokens of each admitted
         request + 1 per running request) + per_adapter_s x len(step's adapters)
         + host_load_s x host->device loads + disk_load_s x disk->device loads; it ends at t + that;
      6. an admitted request waited (queue_s) from its arrival to t, and its first token comes at
         the step's end (ttft_s from arrival); a request with output_tokens n runs n steps in a row
         (its admission step and n - 1 more) and finishes at the end of the last one (e2e_s).
    Returns a TimedReport.
    """
    raise NotImplementedError("lab04_adapter_slot_cache TODO 13: simulate_timed — see labs/lab04_adapter_slot_cache/README.md")


# --- TODO 14 ---------------------------------------------------------------------------------

def latency_summary(trace, report: TimedReport, slo_ttft_s: float) -> LatencySummary:
    """Summarise one ``simulate_timed`` run of ``trace``.

    Percentiles (use ``percentile``) are over every request, base requests included.
    slo_attainment is the share of requests with ttft_s <= slo_ttft_s. Fairness looks at the
    adapters only (id >= 1, those with at least one request): each adapter's p99 TTFT over its own
    requests; fairness = the largest of those / their median (``statistics.median``); 1.0 when
    the trace has no adapter requests. ValueError when the report is not of this trace (request
    counts differ), the trace is empty, or slo_ttft_s <= 0.
    """
    raise NotImplementedError("lab04_adapter_slot_cache TODO 14: latency_summary — see labs/lab04_adapter_slot_cache/README.md")


# --- TODO 15 ---------------------------------------------------------------------------------

def padded_vs_paged(resident_ranks: Sequence[int], max_loras: int, max_lora_rank: int,
                    bytes_per_rank: int) -> MemoryReport:
    """Adapter memory on the device: vLLM's padded slots against S-LoRA's unified paging.

    resident_ranks  the rank of each adapter resident at once (at most max_loras of them)
    bytes_per_rank  what one rank of one adapter costs across the model (its A row and B column
                    in every adapted projection of every layer; see the page)
    Padded: every slot is allocated for max_lora_rank, used or not: max_loras x max_lora_rank
    ranks. Paged: the resident adapters' own ranks, nothing more (S-LoRA stores each rank as one
    page of a shared pool). ValueError when an adapter's rank exceeds max_lora_rank (vLLM refuses
    to load it) or more adapters are resident than max_loras.
    """
    raise NotImplementedError("lab04_adapter_slot_cache TODO 15: padded_vs_paged — see labs/lab04_adapter_slot_cache/README.md")
