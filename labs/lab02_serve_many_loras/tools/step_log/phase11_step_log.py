"""A vLLM general plugin that writes one JSON line per engine step: lab 02 part 2's step costs.

vLLM's ``/metrics`` has histograms of latencies but nothing per step, and its DEBUG lines carry
1-second timestamps. Lab 04's ``StepCosts`` needs, for each step, how long it took and what was
in it. This plugin wraps the engine core's step (vllm/v1/engine/core.py, ``EngineCore.step`` and
``step_with_batch_queue``: schedule, run the model, update) and writes, for each step that ran
the model, one JSON object to the file named by ``PHASE11_STEP_LOG``:

    t          when the step started (time.time(), seconds)
    dur_s      its wall time (schedule + forward + update)
    cpu_s      this process's CPU time during it
    tokens     tokens scheduled in the step (prompts of newcomers, one per decoding request)
    new_tokens the part of ``tokens`` that belongs to requests scheduled for the first time
    requests   requests in the step; ``new``: how many of them are newcomers
    adapters   the distinct adapter ids (``lora_int_id``) in the step, base requests left out
    slot_loads adapters copied into a slot during the step (``activate_adapter`` that did work)
    disk_loads adapters read from disk during the step (``_load_adapter``)

The load counts are seen only where the worker runs in the engine core's process, as with
``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (tools/server.py sets it); elsewhere they stay 0. Nothing is
computed differently: the plugin only observes. Loaded like tools/cpu_lora_fix: put this folder
on PYTHONPATH (vLLM calls ``register`` in each of its processes); without ``PHASE11_STEP_LOG``
it does nothing. ``VLLM_PLUGINS``, where set, must name ``phase11_step_log`` too.
"""
from __future__ import annotations

import functools
import json
import os
import time

MARKER = "phase11-step-log"
_counts = {"slot_loads": 0, "disk_loads": 0}


def _count(name: str, original, did_work=lambda result: True):
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if did_work(result):
            _counts[name] += 1
        return result
    wrapper._phase11_step_log = True
    return wrapper


def _describe(scheduler, out) -> dict:
    """What the scheduler put into this step (its SchedulerOutput), as plain numbers."""
    tokens = getattr(out, "num_scheduled_tokens", {}) or {}
    new_ids = [r.req_id for r in getattr(out, "scheduled_new_reqs", [])]
    adapters = set()
    for req_id in tokens:
        request = scheduler.requests.get(req_id) if hasattr(scheduler, "requests") else None
        lora = getattr(request, "lora_request", None)
        if lora is not None and lora.lora_int_id > 0:
            adapters.add(int(lora.lora_int_id))
    return {"tokens": int(sum(tokens.values())), "new_tokens": int(sum(tokens.get(i, 0) for i in new_ids)),
            "requests": len(tokens), "new": len(new_ids), "adapters": sorted(adapters)}


def _timed_step(original, path: str):
    @functools.wraps(original)
    def step(self, *args, **kwargs):
        before = dict(_counts)
        t, t0, c0 = time.time(), time.perf_counter(), time.process_time()
        result = original(self, *args, **kwargs)
        dur, cpu = time.perf_counter() - t0, time.process_time() - c0
        out = getattr(self.scheduler, "_phase11_last", None)
        self.scheduler._phase11_last = None
        if out is not None and getattr(out, "total_num_scheduled_tokens", 0) > 0:
            line = {"t": round(t, 6), "dur_s": round(dur, 6), "cpu_s": round(cpu, 6),
                    **_describe(self.scheduler, out),
                    **{k: _counts[k] - before[k] for k in _counts}}
            with open(path, "a") as f:          # one write per line: a reader never sees half a line
                f.write(json.dumps(line) + "\n")
        return result
    step._phase11_step_log = True
    return step


def register() -> None:
    path = os.environ.get("PHASE11_STEP_LOG")
    if not path:
        return
    from vllm.lora.model_manager import LoRAModelManager
    from vllm.lora.worker_manager import LRUCacheWorkerLoRAManager
    from vllm.v1.core.sched.scheduler import Scheduler
    from vllm.v1.engine.core import EngineCore

    if getattr(EngineCore.step, "_phase11_step_log", False):
        return
    original_schedule = Scheduler.schedule

    @functools.wraps(original_schedule)
    def schedule(self, *args, **kwargs):
        out = original_schedule(self, *args, **kwargs)
        self._phase11_last = out
        return out

    Scheduler.schedule = schedule
    EngineCore.step = _timed_step(EngineCore.step, path)
    EngineCore.step_with_batch_queue = _timed_step(EngineCore.step_with_batch_queue, path)
    LoRAModelManager.activate_adapter = _count("slot_loads", LoRAModelManager.activate_adapter, bool)
    LRUCacheWorkerLoRAManager._load_adapter = _count("disk_loads", LRUCacheWorkerLoRAManager._load_adapter)
    print(f"{MARKER}: logging engine steps to {path} in pid {os.getpid()}", flush=True)
