"""One real run of lab02, in a process of its own; writes one JSON object to the file ``--result``.

    python engine_run.py engine --model DIR --impl ROOT --max-loras 2 --max-cpu-loras 3 --result OUT.json
    python engine_run.py hf --model DIR --result OUT.json
    (either one also takes --base NAME --adapter NAME=PATH ... for a hub model and its adapters)

``engine`` starts vLLM once, runs every row batched and then every row alone (through the lab's
``run_batched`` / ``run_one_by_one`` from ``--impl``), measures the adapter memory the engine
holds, and reports times and peak RSS. ``hf`` decodes the same rows greedily with HF
transformers + PEFT in float32: the independent reference. ``capture.py`` drives both; so does
the course's real-engine test. Environment the engine run expects (capture.py sets it):
VLLM_LOGGING_LEVEL=DEBUG, VLLM_CPU_KVCACHE_SPACE=1, VLLM_ENABLE_V1_MULTIPROCESSING=0 for one
process, PYTHONHASHSEED=0 (vLLM orders a step's adapters by a hash of their names), and
tools/cpu_lora_fix on PYTHONPATH for --fix.

The result travels in its own file, never in stdout: stdout and stderr carry the engine's log,
which other processes (the engine core, its workers) write into at any moment, so a result line
there can be split by someone else's output. The file is written whole and renamed into place.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROMPTS = ["def main(", "import os\n", "for i in range(", "x = "]
ADAPTERS = ("shout", "count", "define")
MAX_TOKENS = 16


def rows(adapters=ADAPTERS) -> tuple[list[str], list[str | None]]:
    """Every prompt with the base model and with each adapter, interleaved: 4 x 4 = 16 rows."""
    prompts, names = [], []
    for p in PROMPTS:
        for a in (None, *adapters):
            prompts.append(p)
            names.append(a)
    return prompts, names


def base_and_adapters(args) -> tuple[str, dict[str, str]]:
    """The base model and {adapter name: path or hub id}: the tiny local model unless given."""
    base = args.base or str(args.model / "base")
    if args.adapter:
        pairs = [a.split("=", 1) for a in args.adapter]
        if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
            raise SystemExit("--adapter takes NAME=PATH_OR_HUB_ID")
        return base, dict(pairs)
    return base, {a: str(args.model / "adapters" / a) for a in ADAPTERS}


def _tree_rss_kib(root: int) -> dict[int, int]:
    """VmRSS (KiB) of ``root`` and every live descendant, by pid."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
                parent[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier and p not in tree]
        tree.update(kids)
        frontier = kids
    out = {}
    for pid in tree:
        try:
            line = next(ln for ln in open(f"/proc/{pid}/status") if ln.startswith("VmRSS:"))
            out[pid] = int(line.split()[1])
        except (OSError, StopIteration, ValueError):
            pass
    return out


class TreeMemory:
    """The peak of the summed resident memory of this process and all its descendants (the engine
    core and its worker in multi-process mode), sampled every ``every_s`` on a thread of its own.
    ``RUSAGE_CHILDREN`` would miss children that are still running when it is read."""

    def __init__(self, every_s: float = 0.1):
        import threading
        self.every_s, self.peak_kib, self.at_peak = every_s, 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every_s)

    def sample(self):
        sizes = _tree_rss_kib(os.getpid())
        total = sum(sizes.values())
        if total > self.peak_kib:
            self.peak_kib, self.at_peak = total, sizes

    def result(self) -> dict:
        self.sample()
        self._stop.set()
        self._thread.join(timeout=5)
        me = os.getpid()
        return {"peak_tree_rss_mib": round(self.peak_kib / 1024, 1), "processes_at_peak": len(self.at_peak),
                "main_process_rss_at_peak_mib": round(self.at_peak.get(me, 0) / 1024, 1)}


def _lora_memory(worker) -> dict:
    """Runs inside the engine's worker: bytes of the slot buffers and of each loaded adapter."""
    import torch
    model = worker.model_runner.model
    slots: dict[str, int] = {}
    num_slots = None
    for name, mod in model.named_modules():
        if not hasattr(mod, "lora_a_stacked"):
            continue
        tensors = [t for group in (mod.lora_a_stacked, mod.lora_b_stacked)
                   for t in (group if isinstance(group, (tuple, list)) else (group,)) if isinstance(t, torch.Tensor)]
        slots[name] = sum(t.numel() * t.element_size() for t in tensors)
        num_slots = tensors[0].shape[0]
    manager = worker.model_runner.lora_manager._adapter_manager
    host = {}
    for lora_id, lora in manager.list_adapters().items():
        total = 0
        for w in lora.loras.values():
            for t in (w.lora_a, w.lora_b):
                for part in (t if isinstance(t, (list, tuple)) else (t,)):
                    if part is not None:
                        total += part.numel() * part.element_size()
        host[str(lora_id)] = total
    return {"slot_buffers": slots, "num_slots": num_slots, "host_adapter_bytes": host}


def run_engine(args) -> dict:
    memory_watch = TreeMemory()
    sys.path.insert(0, str(Path(args.impl).resolve()))
    from lab02_serve_many_loras import serve

    t0 = time.perf_counter()
    import vllm
    from vllm import LLM, SamplingParams
    t_import = time.perf_counter() - t0

    base, adapters = base_and_adapters(args)
    kwargs = serve.engine_kwargs(args.max_loras, args.max_lora_rank, args.max_cpu_loras, model=base,
                                 single_process=os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0",
                                 max_num_seqs=32)
    t1 = time.perf_counter()
    llm = LLM(**kwargs)
    t_start = time.perf_counter() - t1
    prompts, names = rows(tuple(adapters))
    requests = serve.assign_lora_requests(names, adapters)
    params = SamplingParams(temperature=0.0, max_tokens=MAX_TOKENS, ignore_eos=True)
    t2 = time.perf_counter()
    batched = serve.run_batched(llm, prompts, requests, params)
    t_batched = time.perf_counter() - t2
    t3 = time.perf_counter()
    alone = serve.run_one_by_one(llm, prompts, requests, params)
    t_alone = time.perf_counter() - t3
    # the worker's tensors are reachable in one process; across processes a function cannot be sent
    single = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0"
    memory = llm.collective_rpc(_lora_memory)[0] if single else None
    tok = llm.get_tokenizer()
    import torch
    return {
        "engine_kwargs": kwargs,
        "rows": [{"row": i, "prompt": p, "adapter": a, "lora_int_id": r.lora_int_id if r else None}
                 for i, (p, a, r) in enumerate(zip(prompts, names, requests))],
        "batched": batched, "alone": alone,
        "batched_text": [tok.decode(t) for t in batched], "alone_text": [tok.decode(t) for t in alone],
        "memory": memory,
        "model_config": llm.llm_engine.model_config.hf_config.to_dict(),
        "fix_patched_here": vllm.lora.punica_wrapper.punica_cpu.bgmv_shrink.__module__ == "phase11_cpu_lora_fix",
        "timings_s": {"import_vllm": round(t_import, 2), "engine_start": round(t_start, 2),
                      "generate_batched": round(t_batched, 2), "generate_one_by_one": round(t_alone, 2)},
        **memory_watch.result(),
        "versions": {"vllm": vllm.__version__, "torch": torch.__version__},
    }


def run_hf(args) -> dict:
    import torch
    import transformers
    import peft
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base_name, adapters = base_and_adapters(args)
    tok = AutoTokenizer.from_pretrained(base_name)
    prompts, names = rows(tuple(adapters))
    out = []
    t0 = time.perf_counter()
    models = {}
    for p, a in zip(prompts, names):
        if a not in models:
            base = AutoModelForCausalLM.from_pretrained(base_name, dtype=torch.float32).eval()
            models[a] = base if a is None else PeftModel.from_pretrained(base, adapters[a]).eval()
        ids = tok(p, return_tensors="pt").input_ids
        with torch.no_grad():
            gen = models[a].generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_TOKENS,
                                     min_new_tokens=MAX_TOKENS, do_sample=False)
        out.append(gen[0, ids.shape[1]:].tolist())
    return {"hf": out, "hf_text": [tok.decode(t) for t in out], "seconds": round(time.perf_counter() - t0, 2),
            "versions": {"transformers": transformers.__version__, "peft": peft.__version__,
                         "torch": torch.__version__}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["engine", "hf"])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--impl", default=str(HERE.parent.parent.parent / "solutions"))
    ap.add_argument("--max-loras", type=int, default=2)
    ap.add_argument("--max-cpu-loras", type=int, default=3)
    ap.add_argument("--max-lora-rank", type=int, default=8)
    ap.add_argument("--base", help="base model folder or hub id (default: the tiny model)")
    ap.add_argument("--adapter", action="append", help="NAME=PATH_OR_HUB_ID, once per adapter")
    ap.add_argument("--result", type=Path, required=True, help="write the result (JSON) to this file")
    args = ap.parse_args(argv)
    result = run_engine(args) if args.mode == "engine" else run_hf(args)
    write_result(args.result, result)
    return 0


def write_result(path: Path, result: dict) -> None:
    """Write ``result`` as JSON to ``path`` atomically: a reader finds it whole or not at all."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main())
