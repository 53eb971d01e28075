"""A freed slot keeps its weights: the -1 bug with a "free" last slot, on the real engine.

    python labs/lab02_serve_many_loras/tools/stale_slot.py --out captured/cpu-stale-slot-max-loras-2.json

With max_loras = 2: a mixed batch fills both slots; the adapter in the LAST slot is then removed
(``llm_engine.remove_lora``: vLLM 0.32.0's ``_deactivate_adapter`` only clears the slot's entry
in ``lora_index_to_id``, vllm/lora/model_manager.py:405-410, and writes nothing into the
buffers); then a batch of base rows and the other adapter's rows runs with one slot busy and the
last slot free. Base rows are token index -1, which reads the last slot: they still get the
removed adapter. Only a slot that was never filled is zeros. Recorded: the slot table and the
last slot's weight norm before and after the removal, both batches, every row alone, and
provenance. Single process (the worker's tensors are read in place); no course plugin loaded.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import capture as C  # noqa: E402
import engine_run as E  # noqa: E402

TOOL = "labs/lab02_serve_many_loras/tools/stale_slot.py"
ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1", "PYTHONHASHSEED": "0",
       "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "OMP_NUM_THREADS": "1"}


def _slots(worker) -> dict:
    """Runs inside the worker: which adapter id each slot holds, and the norm of everything in each
    slot's stacked LoRA buffers (A and B, every layer)."""
    import torch
    manager = worker.model_runner.lora_manager._adapter_manager
    squares = [0.0] * manager.lora_slots
    for _, mod in worker.model_runner.model.named_modules():
        for name in ("lora_a_stacked", "lora_b_stacked"):
            group = getattr(mod, name, None)
            for t in (group if isinstance(group, (list, tuple)) else (group,)):
                if isinstance(t, torch.Tensor):
                    for k in range(len(squares)):
                        squares[k] += float(t[k].float().pow(2).sum())
    return {"index_to_id": list(manager.lora_index_to_id), "slot_weight_norms": [s ** 0.5 for s in squares]}


def run(model: Path) -> dict:
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    adapters = {name: str(model / "adapters" / name) for name in E.ADAPTERS}
    ids = {name: k + 1 for k, name in enumerate(adapters)}
    req = {name: LoRARequest(name, ids[name], path) for name, path in adapters.items()}
    llm = LLM(model=str(model / "base"), dtype="float32", max_model_len=512, seed=0, enforce_eager=True,
              enable_lora=True, max_loras=2, max_lora_rank=8, max_cpu_loras=3, max_num_seqs=32,
              enable_prefix_caching=False, distributed_executor_backend="uni")
    params = SamplingParams(temperature=0.0, max_tokens=E.MAX_TOKENS, ignore_eos=True)
    first = E.ADAPTERS[:2]
    rows1 = [(p, a) for p in E.PROMPTS for a in (None, *first)]

    def generate(rows):
        outs = llm.generate([p for p, _ in rows], params, lora_request=[req[a] if a else None for _, a in rows],
                            use_tqdm=False)
        return [[*o.outputs[0].token_ids] for o in outs]         # token ids per row, in row order

    batch1 = generate(rows1)
    before = llm.collective_rpc(_slots)[0]
    last_id = before["index_to_id"][-1]
    removed = next(name for name, i in ids.items() if i == last_id)
    kept = next(name for name in first if name != removed)
    assert llm.llm_engine.remove_lora(last_id)
    after = llm.collective_rpc(_slots)[0]
    rows2 = [(p, a) for p in E.PROMPTS for a in (None, kept)]
    batch2 = generate(rows2)
    during = llm.collective_rpc(_slots)[0]
    alone = {f"{p}|{a}": generate([(p, a)])[0] for p in E.PROMPTS for a in (None, *first)}
    import vllm
    return {"rows1": [[p, a] for p, a in rows1], "batch1": batch1, "slots_before": before, "removed": removed,
            "removed_id": last_id, "kept": kept, "slots_after_remove": after, "rows2": [[p, a] for p, a in rows2],
            "batch2": batch2, "slots_during_batch2": during, "alone": alone, "env": ENV,
            "versions": {"vllm": vllm.__version__}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=HERE.parent / "model")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if any(os.environ.get(k) != v for k, v in ENV.items()):
        # the engine reads these at import: start again in a process that has them
        os.execve(sys.executable, [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:])],
                  {**os.environ, **ENV})
    t0 = time.perf_counter()
    capture = run(args.model.resolve())
    capture["seconds"] = round(time.perf_counter() - t0, 1)
    capture["provenance"] = {
        "tool": TOOL, "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(), "machine": C.machine(None),
        "model_fingerprint_sha256": C.model_fingerprint(args.model)}
    capture["provenance"]["payload_sha256"] = C.payload_sha256(capture)
    args.out.write_text(json.dumps(capture, indent=1, sort_keys=True) + "\n")
    print(f"removed {capture['removed']} from the last slot; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
