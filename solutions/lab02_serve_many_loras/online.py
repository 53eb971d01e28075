"""Lab 02, part 2 — the engine online: what the OpenAI-compatible server's answers and its step log say.

Part 1 (``serve.py``) drove the offline engine. Here the engine runs behind vLLM's
OpenAI-compatible server (``tools/server.py`` starts it), one adapter per ``model`` name, and
you write the measurement logic that turns what comes back into facts:

    request_timings   per request: time to first token, end-to-end latency, lateness (TODO 8)
    explain_rows      invariant 5 over HTTP: which rows differ, and whose output they got (TODO 9)
    fit_step_costs    lab 04's StepCosts fitted to the engine's step log, non-negative (TODO 10)
    compare           measured against predicted, as percentile ratios per metric (TODO 11)

None of it touches the network: the course's tools send the requests and record the raw events
(the times chunks arrived, the token ids, the step log), and your functions read them, so the
same code grades on recorded runs and measures live ones. Times are seconds on one clock.
Bad input raises ValueError naming the problem.
"""
from __future__ import annotations

import gzip
import itertools
import json
import math
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from .serve import captured_dir, find_mismatches

BASE_MODEL = "tiny"          # the served name of the base model (tools/server.py)
COST_FIELDS = ("base_step_s", "per_token_s", "per_adapter_s", "host_load_s", "disk_load_s")
STEP_KEYS = ("tokens", "adapters", "slot_loads", "disk_loads")


# --- course-provided types and helpers (not part of what you write) ------------------------------

class RequestTiming(NamedTuple):
    """One request as the client saw it, every time from its SCHEDULED arrival (the trace's),
    not from when the client managed to send it.

    ttft_s   time to the first chunk that carried at least one token
    e2e_s    time to the last chunk that carried tokens (the request's last token)
    late_s   how late the client sent it: send time - scheduled arrival (>= 0 on a healthy client)
    tokens   tokens received in all
    """
    ttft_s: float
    e2e_s: float
    late_s: float
    tokens: int


class WrongRow(NamedTuple):
    """A row whose output sent together with the others differs from its output sent alone.

    row         index into the rows
    position    the first generated token where the two differ
    looks_like  the models (served names, sorted) whose ALONE output for the same prompt equals
                this row's output together: whose adapter it got instead (empty: nobody's)
    """
    row: int
    position: int
    looks_like: tuple[str, ...]


class StepFit(NamedTuple):
    """lab 04's StepCosts, fitted: seconds per step, per token, per adapter, per host->slot load and
    per disk load (field names as StepCosts: ``StepCosts(**fit.costs())``), and how much of the step
    times' variance the fit explains (r2, 1.0 = all of it)."""
    base_step_s: float
    per_token_s: float
    per_adapter_s: float
    host_load_s: float
    disk_load_s: float
    r2: float

    def costs(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in COST_FIELDS}


def check_number(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    return float(x)


def check_count(x, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise ValueError(f"{name} must be an int >= 0, got {x!r}")
    return x


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile with linear interpolation, as ``numpy.percentile``'s default (and lab
    04's ``percentile``): the sorted values at position (n - 1) * q / 100."""
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


def load_server_capture(name: str, folder: str | Path | None = None) -> dict:
    """One recorded server run, ``captured/server/<name>.json.gz`` (tools/capture_server.py).

    "rows-bug", "rows-fixed": prompts, models, together, alone (16 rows, max_loras=2)
    "pilot", "main", "sweep-1" ... "sweep-6": trace (lab 04's fields), record (arrivals, sent,
    chunks: what tools/replay.py recorded), steps (the engine's step log during the replay),
    workload, server flags, load average; every capture has a provenance block.
    """
    folder = Path(folder) if folder is not None else captured_dir() / "server"
    path = folder / f"{name}.json.gz"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".json.gz") for p in folder.glob("*.json.gz"))
        raise KeyError(f"no server capture named {name!r}; known: {known}")
    return json.loads(gzip.decompress(path.read_bytes()))


def step_rows(steps: Sequence[Mapping]) -> tuple[np.ndarray, np.ndarray]:
    """The step log as a least-squares problem: X (S, 5) with columns 1, tokens, distinct adapters,
    host->slot loads (slot loads that did not come from disk) and disk loads; y (S,) the durations
    (``dur_s``). Raises ValueError naming the step and key of any bad entry."""
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
        raise ValueError(f"steps must be a list of step records, got {type(steps).__name__}")
    X, y = [], []
    for k, s in enumerate(steps):
        if not isinstance(s, Mapping):
            raise ValueError(f"steps[{k}] must be a dict, got {type(s).__name__}")
        missing = [key for key in ("dur_s", *STEP_KEYS) if key not in s]
        if missing:
            raise ValueError(f"steps[{k}] has no {', '.join(missing)}")
        adapters = s["adapters"]
        if isinstance(adapters, (str, bytes)) or not isinstance(adapters, Sequence):
            raise ValueError(f"steps[{k}].adapters must be a list of adapter ids")
        tokens = check_count(s["tokens"], f"steps[{k}].tokens")
        slot, disk = check_count(s["slot_loads"], f"steps[{k}].slot_loads"), check_count(s["disk_loads"],
                                                                                          f"steps[{k}].disk_loads")
        if disk > slot:
            raise ValueError(f"steps[{k}]: {disk} disk loads but only {slot} slot loads (every adapter read "
                             "from disk is also copied into a slot)")
        X.append([1.0, tokens, len(set(adapters)), slot - disk, disk])
        y.append(check_number(s["dur_s"], f"steps[{k}].dur_s"))
    return np.array(X, dtype=float).reshape(-1, len(COST_FIELDS)), np.array(y, dtype=float)


# --- TODO 8 ---------------------------------------------------------------------------------------

def request_timings(arrivals: Sequence[float], sent: Sequence[float],
                    chunks: Sequence[Sequence[tuple[float, int]]]) -> list[RequestTiming]:
    """What each request of a replay measured, from the raw events the client recorded.

    arrivals  (N,) each request's scheduled arrival (the trace's ``arrival_s``, on the client's clock)
    sent      (N,) when the client actually sent it
    chunks    N lists: request i's streamed chunks in the order they came, each (time, tokens in it);
              a chunk may carry no token (the first text can decode to nothing, the last only
              says why the stream ended)
    Returns one RequestTiming per request, in order. Latencies count from the scheduled arrival:
    a client that falls behind must not make the server look faster. Raises ValueError when the
    lengths differ, a time is not a finite number, chunk times go backwards, or a request got no
    token at all (it failed: name it rather than average it in).
    """
    # BEGIN SOLUTION TODO 8
    for name, seq in (("arrivals", arrivals), ("sent", sent), ("chunks", chunks)):
        if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
            raise ValueError(f"{name} must be a list, got {type(seq).__name__}")
    if not len(arrivals) == len(sent) == len(chunks):
        raise ValueError(f"arrivals, sent and chunks must have one entry per request "
                         f"({len(arrivals)}, {len(sent)}, {len(chunks)})")
    out = []
    for i, (a, s, cs) in enumerate(zip(arrivals, sent, chunks)):
        a, s = check_number(a, f"arrivals[{i}]"), check_number(s, f"sent[{i}]")
        times, first, last, total = [], None, None, 0
        for j, chunk in enumerate(cs):
            if isinstance(chunk, (str, bytes)) or not isinstance(chunk, Sequence) or len(chunk) != 2:
                raise ValueError(f"chunks[{i}][{j}] must be a pair (time, tokens), got {chunk!r:.60}")
            t, n = check_number(chunk[0], f"chunks[{i}][{j}] time"), check_count(chunk[1], f"chunks[{i}][{j}] tokens")
            if times and t < times[-1]:
                raise ValueError(f"chunks[{i}]: chunk {j} came at {t} s, before the one before it ({times[-1]} s)")
            times.append(t)
            if n:
                first = t if first is None else first
                last, total = t, total + n
        if first is None:
            raise ValueError(f"request {i} received no token: it failed (or was cut off)")
        out.append(RequestTiming(first - a, last - a, s - a, total))
    return out
    # END SOLUTION


# --- TODO 9 ---------------------------------------------------------------------------------------

def explain_rows(prompts: Sequence[str], models: Sequence[str], together: Sequence[Sequence[int]],
                 alone: Sequence[Sequence[int]]) -> list[WrongRow]:
    """Invariant 5 over HTTP, row by row: which rows differ, and whose output each got instead.

    prompts, models  (N,) each row's prompt and served model name (``BASE_MODEL`` or an adapter)
    together         (N,) each row's token ids when all rows were sent at once
    alone            (N,) each row's token ids when it was sent by itself
    Returns a WrongRow per row whose ``together`` differs from its ``alone`` anywhere (a
    difference in the last token counts), in row order. ``looks_like``: the other models whose
    alone output for the SAME prompt equals the row's together output; the lab's bug shows as
    base rows that look like whichever adapter held the last slot. Raises ValueError when the
    lengths differ or a row is not a list of token ids (``find_mismatches`` checks those).
    """
    # BEGIN SOLUTION TODO 9
    for name, seq in (("prompts", prompts), ("models", models)):
        if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence) or not all(isinstance(x, str) for x in seq):
            raise ValueError(f"{name} must be a list of strings, one per row")
    if not len(prompts) == len(models) == len(together):
        raise ValueError(f"prompts, models and together must have one entry per row "
                         f"({len(prompts)}, {len(models)}, {len(together)})")
    out = []
    for m in find_mismatches(together, alone):
        i = m.row
        names = {models[j] for j in range(len(models))
                 if prompts[j] == prompts[i] and models[j] != models[i] and list(alone[j]) == list(together[i])}
        out.append(WrongRow(i, m.position, tuple(sorted(names))))
    return out
    # END SOLUTION


# --- TODO 10 --------------------------------------------------------------------------------------

def fit_step_costs(steps: Sequence[Mapping]) -> StepFit:
    """Fit lab 04's step-cost model to the engine's step log (tools/step_log: one dict per step).

    Model: dur_s = base_step_s + per_token_s * tokens + per_adapter_s * distinct adapters
                   + host_load_s * (slot_loads - disk_loads) + disk_load_s * disk_loads
    Use ``step_rows(steps)`` for X and y. A cost is never negative, so fit by NON-NEGATIVE least
    squares: of all fits with every cost >= 0, the one with the smallest squared error (with five
    unknowns you can try each set of costs allowed to be non-zero, 2^5 of them, solve ordinary
    least squares on those columns, and keep the best fit whose costs are all >= 0). Columns that
    never vary or are always 0 make the problem degenerate: ``np.linalg.lstsq`` still gives the
    minimum-norm answer. r2 = 1 - (squared error) / (sum of (y - mean y)^2), or 1.0 when every
    step took the same time. Raises ValueError (``step_rows``) on bad records, and when there
    are fewer than 5 steps.
    """
    # BEGIN SOLUTION TODO 10
    X, y = step_rows(steps)
    if len(y) < len(COST_FIELDS):
        raise ValueError(f"need at least {len(COST_FIELDS)} steps to fit {len(COST_FIELDS)} costs, got {len(y)}")
    best, best_err = np.zeros(X.shape[1]), float(np.sum(y ** 2))
    for r in range(1, X.shape[1] + 1):
        for cols in itertools.combinations(range(X.shape[1]), r):
            sol = np.linalg.lstsq(X[:, cols], y, rcond=None)[0]
            if np.any(sol < 0):
                continue
            coef = np.zeros(X.shape[1])
            coef[list(cols)] = sol
            err = float(np.sum((X @ coef - y) ** 2))
            if err < best_err - 1e-15:
                best, best_err = coef, err
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 if total == 0 else 1.0 - best_err / total
    return StepFit(*(float(c) for c in best), r2=float(r2))
    # END SOLUTION


# --- TODO 11 --------------------------------------------------------------------------------------

def compare(measured: Mapping[str, Sequence[float]], predicted: Mapping[str, Sequence[float]],
            qs: Sequence[float] = (50, 90, 99)) -> dict[str, dict[float, float]]:
    """How far the prediction is from the measurement: for each metric of ``measured`` (e.g.
    "ttft_s", "e2e_s") and each q in ``qs``, percentile(measured, q) / percentile(predicted, q).

    measured, predicted  metric name -> (N,) one value per request, the same requests in the
                         same order on both sides
    Returns {metric: {q: ratio}}; 1.0 means the prediction was right at that percentile, 2.0 that
    the engine took twice as long. A ratio of percentiles, not a percentile of per-request ratios:
    the tail of the measurement against the tail of the prediction. Raises ValueError when a
    metric is missing from ``predicted``, the lengths differ, a list is empty, or a predicted
    percentile is not > 0 (no ratio to take).
    """
    # BEGIN SOLUTION TODO 11
    out = {}
    for metric, values in measured.items():
        if metric not in predicted:
            raise ValueError(f"metric {metric!r} is measured but not predicted")
        pred = predicted[metric]
        if len(values) != len(pred):
            raise ValueError(f"{metric}: {len(values)} measured values but {len(pred)} predicted")
        if not values:
            raise ValueError(f"{metric}: no values")
        m = [check_number(v, f"measured[{metric!r}]") for v in values]
        p = [check_number(v, f"predicted[{metric!r}]") for v in pred]
        out[metric] = {}
        for q in qs:
            denominator = percentile(p, q)
            if denominator <= 0:
                raise ValueError(f"{metric}: the predicted p{q:g} is {denominator}, not > 0: no ratio to take")
            out[metric][q] = percentile(m, q) / denominator
    return out
    # END SOLUTION
