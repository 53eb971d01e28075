"""Lab 02 — serve many LoRA adapters from one base model on the real vLLM engine.

You drive vLLM 0.32.0 with several adapters in ONE batch and check it against what the other
labs predict:

* invariant 5 (a mixed batch gives exactly what each request gets alone), row by row;
* the engine's adapter slot events, read from its debug log and replayed through lab04's cache.

Nothing here needs vLLM at import time: ``vllm`` is imported only by code that is handed a live
engine. Without vLLM, the lab runs on the runs recorded in ``captured/`` (see the README).

Shapes and meanings used throughout:
    rows      list of length N: per row, an adapter name (str) or None for the base model
    token ids list of length N: per row, the generated token ids (list[int]) of that row
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

# Ranks the engine accepts for max_lora_rank (vllm/config/lora.py, MaxLoRARanks, in 0.32.0).
VLLM_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


# --- course-provided types (not part of what you write) -----------------------------------------

@dataclass(frozen=True)
class LoRARequest:
    """The course's stand-in for ``vllm.lora.request.LoRARequest`` when vLLM is not installed.

    Same field names as vLLM's: ``lora_name`` (the adapter's name), ``lora_int_id`` (its integer
    id, >= 1; the engine uses 0 internally for "no adapter") and ``lora_path`` (its folder).
    """
    lora_name: str
    lora_int_id: int
    lora_path: str

    def __post_init__(self):
        # the same check as vLLM's LoRARequest: id 0 means "no adapter" inside the engine
        if isinstance(self.lora_int_id, bool) or not isinstance(self.lora_int_id, int) or self.lora_int_id < 1:
            raise ValueError(f"adapter {self.lora_name!r}: lora_int_id must be an int >= 1, got {self.lora_int_id!r}")


def lora_request_class():
    """vLLM's ``LoRARequest`` when vLLM is already imported (you hold an engine), else the course's."""
    if "vllm" in sys.modules:
        from vllm.lora.request import LoRARequest as VllmLoRARequest
        return VllmLoRARequest
    return LoRARequest


def to_vllm_request(req):
    """Turn a course ``LoRARequest`` into vLLM's when vLLM is in use; otherwise leave it alone."""
    if req is None or "vllm" not in sys.modules:
        return req
    from vllm.lora.request import LoRARequest as VllmLoRARequest
    if isinstance(req, VllmLoRARequest):
        return req
    return VllmLoRARequest(req.lora_name, req.lora_int_id, req.lora_path)


@dataclass(frozen=True)
class Mismatch:
    """One row where the batched run and the run alone differ.

    ``position`` is the index of the first differing generated token; ``batched_token`` and
    ``alone_token`` are the tokens there (None when that run had already stopped: one output
    is a strict prefix of the other).
    """
    row: int
    position: int
    batched_token: int | None
    alone_token: int | None


@dataclass(frozen=True)
class LoRAEvent:
    """One adapter-lifecycle line of the engine's debug log.

    kind: "add" (loaded into the host cache), "activate" (copied into device slot ``slot``),
    "remove" (evicted; from a slot, and again when it also leaves the host cache), or "use"
    (the course's trace plugin: the engine step touches this adapter, hit or miss).
    ``slot`` is None except for "activate". ``line`` is the 0-based line number in the log.
    """
    kind: str
    lora_id: int
    slot: int | None
    line: int


@dataclass(frozen=True)
class ReplayStep:
    """One adapter access, as the engine's log shows it and as lab04's cache models it.

    engine_kind:    "hit" (no activation followed), "load" (activated into a free slot) or
                    "evict+load" (a "remove" came before the activation)
    engine_slot:    the slot the engine used (for a hit: where it was activated earlier; None if unknown)
    engine_evicted: the id the engine removed for this access, or None
    model_*:        lab04's SlotEvent for ``cache.access(lora_id)``: kind, slot, evicted
    """
    line: int
    lora_id: int
    engine_kind: str
    engine_slot: int | None
    engine_evicted: int | None
    model_kind: str
    model_slot: int
    model_evicted: int | None

    @property
    def agree(self) -> bool:
        return ((self.engine_kind, self.engine_slot, self.engine_evicted)
                == (self.model_kind, self.model_slot, self.model_evicted))


@dataclass
class ReplayReport:
    """mode: "trace" (the log has "use" lines: every access replayed, hits included) or
    "activations" (vLLM's own lines only: misses replayed, hits invisible)."""
    num_slots: int
    mode: str
    steps: list[ReplayStep] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return all(s.agree for s in self.steps)

    @property
    def disagreements(self) -> list[ReplayStep]:
        return [s for s in self.steps if not s.agree]


def _check_rows(name: str, value) -> list:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a list (one entry per row), got {type(value).__name__}")
    return list(value)


# --- TODO 1 -------------------------------------------------------------------------------------

def assign_lora_requests(rows: Sequence[str | None], adapters: Mapping[str, str],
                         request_cls=None) -> list:
    """Per row, the request the engine needs: a LoRARequest for an adapter row, None for a base row.

    rows:      length N; per row an adapter name from ``adapters`` or None (the base model).
    adapters:  name -> adapter folder. Ids are stable: the k-th name of ``adapters`` (in its
               order) gets ``lora_int_id = k + 1`` on every row and every call, whether or not a
               row uses it. Id 0 is never used: vLLM reserves it for "no adapter".
    request_cls: the class to build (fields lora_name, lora_int_id, lora_path); default
               ``lora_request_class()``.
    Returns a list of length N.
    Raises KeyError for a row naming an unknown adapter, ValueError for a row that is neither a
    str nor None, an empty adapter name, or an empty path.
    """
    raise NotImplementedError("lab02_serve_many_loras TODO 1: assign_lora_requests — see labs/lab02_serve_many_loras/README.md")


# --- TODO 2 -------------------------------------------------------------------------------------

def engine_kwargs(max_loras: int, max_lora_rank: int, max_cpu_loras: int | None = None, *,
                  model: str, dtype: str = "float32", max_model_len: int = 512, seed: int = 0,
                  single_process: bool = True, **extra: Any) -> dict:
    """The keyword arguments for ``vllm.LLM(**kwargs)`` with LoRA enabled, validated.

    max_loras:      device slots: distinct adapters one step may use (int >= 1).
    max_lora_rank:  the rank every slot is sized for; one of VLLM_MAX_LORA_RANKS.
    max_cpu_loras:  host-cache capacity (adapters kept loaded in CPU memory); None means
                    ``max_loras``; must be >= max_loras.
    single_process: add ``distributed_executor_backend="uni"`` (one process; the caller also
                    sets VLLM_ENABLE_V1_MULTIPROCESSING=0 before starting the engine).
    extra:          passed through unchanged (e.g. max_num_seqs).
    Returns a dict with at least: model, enable_lora=True, max_loras, max_lora_rank,
    max_cpu_loras (an int, never None), dtype, max_model_len, seed.
    Raises ValueError naming the argument for anything the engine would reject.
    """
    raise NotImplementedError("lab02_serve_many_loras TODO 2: engine_kwargs — see labs/lab02_serve_many_loras/README.md")


# --- TODO 3 and 4 -------------------------------------------------------------------------------

def run_batched(llm, prompts: Sequence[str], requests: Sequence, params) -> list[list[int]]:
    """All rows in ONE ``llm.generate`` call (the engine batches them). Returns token ids per row.

    prompts: length N; requests: length N (LoRARequest or None per row, as from
    assign_lora_requests); params: one vllm.SamplingParams for every row.
    Returns a list of N lists of generated token ids, in row order.
    Raises ValueError when prompts and requests differ in length or are empty.
    Pass each request through ``to_vllm_request``: the real engine accepts only vLLM's own
    LoRARequest, and the helper leaves requests alone when vLLM is not in use.
    """
    raise NotImplementedError("lab02_serve_many_loras TODO 3: run_batched — see labs/lab02_serve_many_loras/README.md")


def run_one_by_one(llm, prompts: Sequence[str], requests: Sequence, params) -> list[list[int]]:
    """Each row ALONE: one ``llm.generate`` call per row. Same arguments and result as run_batched."""
    raise NotImplementedError("lab02_serve_many_loras TODO 4: run_one_by_one — see labs/lab02_serve_many_loras/README.md")


# --- TODO 5 -------------------------------------------------------------------------------------

def find_mismatches(batched: Sequence[Sequence[int]], alone: Sequence[Sequence[int]]) -> list[Mismatch]:
    """The rows where invariant 5 fails: batched[i] != alone[i], compared token id by token id.

    batched, alone: length N each; per row the generated token ids (ints).
    Returns one Mismatch per differing row, in row order (an empty list when all rows agree).
    Raises ValueError when the two have different numbers of rows or a row is not a list of ints.
    """
    raise NotImplementedError("lab02_serve_many_loras TODO 5: find_mismatches — see labs/lab02_serve_many_loras/README.md")


# --- TODO 6 -------------------------------------------------------------------------------------

def parse_lora_events(log_text: str) -> list[LoRAEvent]:
    """The adapter lifecycle from vLLM's DEBUG log, in log order.

    Recognised messages (anywhere in a line, after whatever prefix the logger adds):
        "Adding lora. Model id: N, int id: N"        -> LoRAEvent("add", N, None, line)
        "Activating LoRA. int id: N, slot index: K"  -> LoRAEvent("activate", N, K, line)
        "Removing adapter int id: N"                 -> LoRAEvent("remove", N, None, line)
        "phase11-trace: using LoRA int id: N"        -> LoRAEvent("use", N, None, line)
    (the last one comes from the course's trace plugin, tools/lora_trace). Every other line is
    ignored. ``line`` is the 0-based line number. Raises ValueError when log_text is not a str.
    """
    raise NotImplementedError("lab02_serve_many_loras TODO 6: parse_lora_events — see labs/lab02_serve_many_loras/README.md")


# --- TODO 7 -------------------------------------------------------------------------------------

def replay_through_cache(events: Sequence[LoRAEvent], num_slots: int) -> ReplayReport:
    """Replay the engine's adapter accesses through lab04's ``AdapterSlotCache(num_slots)``.

    events:    as from parse_lora_events; num_slots: the engine's max_loras.
    Trace mode (some event has kind "use"): each "use" is one access. Call
        ``cache.access(lora_id)`` for it; the engine's side of that access is read from the
        events up to the next "use": an "activate" of this id means a miss into that slot
        ("evict+load" if a "remove" came first, its id the victim, else "load"); no activation
        means a hit, in the slot where this id was last activated.
    Activations mode (no "use" events, vLLM's own log): each "activate" is one access, a miss;
        its victim is the most recent "remove" since the previous activation.
    "add" events carry no slot information and are skipped.
    Returns a ReplayReport with one ReplayStep per access, in order.
    Raises ValueError when num_slots < 1, when an "activate" names a slot outside
    0..num_slots-1, or (trace mode) when an "activate" does not follow a "use" of the same id.
    """
    raise NotImplementedError("lab02_serve_many_loras TODO 7: replay_through_cache — see labs/lab02_serve_many_loras/README.md")


# --- course-provided: captured runs and an engine stand-in that replays them ----------------------

def captured_dir() -> Path:
    """The folder of recorded runs: ``captured/`` next to this module, else the course's copy."""
    here = Path(__file__).resolve().parent
    for base in (here, *here.parents):
        for cand in (base / "captured", base / "labs" / "lab02_serve_many_loras" / "captured"):
            if cand.is_dir() and any(cand.glob("*.json")):
                return cand
    raise FileNotFoundError("no captured/ folder with lab02 runs found near " + str(here))


def load_capture(name: str, folder: str | Path | None = None) -> dict:
    """One recorded run (``captured/<name>.json``) with its debug log added as ``capture["log"]``.

    Names: "cpu-bug-max-loras-2", "cpu-free-slot-max-loras-4", "cpu-fixed-max-loras-2",
    "hf-reference" (and cuda-* runs where someone recorded them). Raises KeyError for others.
    folder: where the captures are (default: ``captured_dir()``).
    """
    folder = Path(folder) if folder is not None else captured_dir()
    path = folder / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.json"))
        raise KeyError(f"no capture named {name!r}; known: {known}")
    capture = json.loads(path.read_text())
    log_file = capture.get("provenance", {}).get("log_file")
    capture["log"] = (folder / log_file).read_text() if log_file else ""
    return capture


@dataclass(frozen=True)
class _Completion:
    token_ids: list
    text: str


@dataclass(frozen=True)
class _RequestOutput:
    prompt: str
    outputs: list


class ReplayLLM:
    """Stands in for ``vllm.LLM`` with an engine run's capture: no vLLM, no model.

    ``generate(prompts, params, lora_request=...)`` answers each (prompt, lora_int_id) pair with
    the tokens that the real engine produced: the batched run's when the call has more than one
    prompt, the alone run's for a single prompt. ``calls`` records each call's lora ids.
    """

    def __init__(self, capture: dict):
        self.capture = capture
        self.rows = {(r["prompt"], r["lora_int_id"]): r["row"] for r in capture["rows"]}
        self.calls: list[list[int | None]] = []

    def generate(self, prompts, params=None, lora_request=None, use_tqdm=True):
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        reqs = list(lora_request) if isinstance(lora_request, (list, tuple)) else [lora_request] * len(prompts)
        if len(reqs) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(reqs)} lora requests")
        ids = [None if r is None else r.lora_int_id for r in reqs]
        self.calls.append(ids)
        key = "batched" if len(prompts) > 1 else "alone"
        out = []
        for p, i in zip(prompts, ids):
            if (p, i) not in self.rows:
                raise KeyError(f"the capture has no row for prompt {p!r} with lora_int_id {i!r}")
            row = self.rows[(p, i)]
            out.append(_RequestOutput(p, [_Completion(list(self.capture[key][row]),
                                                      self.capture[key + "_text"][row])]))
        return out
