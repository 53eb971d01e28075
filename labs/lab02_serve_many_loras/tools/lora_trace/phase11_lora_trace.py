"""A vLLM general plugin that logs every adapter ACCESS, so a replay sees hits as well as misses.

vLLM's own DEBUG log shows only misses ("Activating LoRA. int id: N, slot index: K") and
evictions ("Removing adapter int id: N"). Its slot manager is LRU, and an adapter used again
while already in a slot (a hit) moves to the most-recently-used end without a word in the log.
A replay fed only the misses can therefore pick a different victim than the engine did.

Every engine step, the worker calls ``LRUCacheWorkerLoRAManager.add_adapter`` once per adapter
of the step, in order (vllm/lora/worker_manager.py, _apply_adapters). This plugin logs
"phase11-trace: using LoRA int id: N" at DEBUG level just before each such call; the engine's
own lines for a miss follow it. It changes no computation. Loaded like tools/cpu_lora_fix:
put this folder on PYTHONPATH (vLLM calls ``register`` in every process).
"""
from __future__ import annotations

import functools

MARKER = "phase11-trace"


def register() -> None:
    from vllm.lora.worker_manager import LRUCacheWorkerLoRAManager

    if getattr(LRUCacheWorkerLoRAManager.add_adapter, "_phase11_trace", False):
        return
    from vllm.logger import init_logger
    log = init_logger("vllm." + MARKER)
    original = LRUCacheWorkerLoRAManager.add_adapter

    @functools.wraps(original)
    def add_adapter(self, lora_request):
        log.debug("%s: using LoRA int id: %d", MARKER, lora_request.lora_int_id)
        return original(self, lora_request)

    add_adapter._phase11_trace = True
    LRUCacheWorkerLoRAManager.add_adapter = add_adapter
