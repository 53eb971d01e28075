"""Measure the LoRA slot buffers a real vLLM engine allocates, for lab 03's ``slot_bytes``.

    python labs/lab02_serve_many_loras/tools/capture_lora_buffers.py            # all runs, rewrite the capture
    python labs/lab02_serve_many_loras/tools/capture_lora_buffers.py --runs q-only-r1 --out /tmp/x.json

Each run starts a fresh process that builds ``vllm.LLM`` on lab 02's tiny model (``make lab02-model``)
with ``enable_lora=True``, float32, one process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``,
``distributed_executor_backend="uni"``), and sums ``numel() * element_size()`` over every
``lora_a_stacked`` / ``lora_b_stacked`` tensor of the model, per module name (all layers together).
No request is sent: the buffers exist from start-up. The run ``gemma-default`` serves a tiny
Gemma (random weights, lab 02's tokenizer, tied embeddings) built on the fly, to see what vLLM's
default targets wrap for a model class other than Llama.

The child hands its result back in a file whose path the parent passes (``--result``), never
in its stdout: the engine's own output shares that stream.

Output (default ``labs/lab03_lora_economics/configs/captured-vllm-lora-buffers.json``): one entry
per Llama run; the Gemma run goes to ``captured-vllm-lora-buffers-tiny-gemma.json`` next to it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
TOOL = "labs/lab02_serve_many_loras/tools/capture_lora_buffers.py"
CONFIGS = ROOT / "labs" / "lab03_lora_economics" / "configs"
OUT = CONFIGS / "captured-vllm-lora-buffers.json"
OUT_GEMMA = CONFIGS / "captured-vllm-lora-buffers-tiny-gemma.json"

# name -> (max_loras, max_lora_rank, lora_target_modules); None = vLLM's default (every supported module)
RUNS: dict[str, tuple[int, int, list[str] | None]] = {
    "default-m2-r8": (2, 8, None),
    "qkvo-m2-r8": (2, 8, ["q_proj", "k_proj", "v_proj", "o_proj"]),
    "default-m3-r16": (3, 16, None),
    # split targets: a part of a module vLLM fuses (qkv_proj, gate_up_proj)
    "q-only-r1": (1, 1, ["q_proj"]),
    "q-v-m2-r8": (2, 8, ["q_proj", "v_proj"]),
    "gate-down-m2-r8": (2, 8, ["gate_proj", "down_proj"]),
}
GEMMA_RUNS = {"gemma-default": (2, 8, None)}


def _buffers(worker) -> dict:
    """Runs in the engine's worker: bytes of the LoRA buffers, summed per module name."""
    import torch
    per: dict[str, int] = {}
    for name, mod in worker.model_runner.model.named_modules():
        if not hasattr(mod, "lora_a_stacked"):
            continue
        tensors = [t for group in (mod.lora_a_stacked, mod.lora_b_stacked)
                   for t in (group if isinstance(group, (tuple, list)) else (group,)) if isinstance(t, torch.Tensor)]
        key = name.split(".")[-1]
        per[key] = per.get(key, 0) + sum(t.numel() * t.element_size() for t in tensors)
    return per


def child(model: str, max_loras: int, rank: int, targets: list[str] | None, result: Path) -> None:
    import vllm
    from vllm import LLM
    kwargs = dict(model=model, enable_lora=True, max_loras=max_loras, max_lora_rank=rank, max_cpu_loras=4,
                  dtype="float32", max_model_len=512, seed=0, distributed_executor_backend="uni",
                  max_num_seqs=8)
    if targets is not None:
        kwargs["lora_target_modules"] = targets
    llm = LLM(**kwargs)
    per = llm.collective_rpc(_buffers)[0]
    tmp = result.with_suffix(".tmp")
    tmp.write_text(json.dumps({"buffer_bytes_by_module": per, "vllm": vllm.__version__,
                               "hf_config": llm.llm_engine.model_config.hf_config.to_dict()}))
    tmp.replace(result)                      # whole or absent: the parent never reads half a result


def build_tiny_gemma(dest: Path, tokenizer_from: Path) -> Path:
    """A 2-layer Gemma with random weights (seed 0) and lab 02's tokenizer: enough to build an engine."""
    import torch
    from transformers import AutoTokenizer, GemmaConfig, GemmaForCausalLM
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tokenizer_from)
    cfg = GemmaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=512,
                      hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    GemmaForCausalLM(cfg).save_pretrained(dest)
    tok.save_pretrained(dest)
    return dest


def run(name: str, model: Path, spec: tuple, timeout: int) -> dict:
    max_loras, rank, targets = spec
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VLLM_ENABLE_V1_MULTIPROCESSING="0",
               VLLM_CPU_KVCACHE_SPACE="1", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1", PYTHONHASHSEED="0",
               TOKENIZERS_PARALLELISM="false")
    with tempfile.TemporaryDirectory(prefix="lora-buffers-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--model", str(model),
               "--max-loras", str(max_loras), "--max-lora-rank", str(rank), "--result", str(result)]
        if targets is not None:
            cmd += ["--targets", *targets]
        print(f"[{name}] building the engine ...", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                              timeout=timeout, cwd=ROOT)
        if proc.returncode != 0 or not result.is_file():
            sys.stderr.write(proc.stdout[-6000:])
            raise SystemExit(f"[{name}] failed (exit {proc.returncode})")
        got = json.loads(result.read_text())
    print(f"[{name}] done in {time.perf_counter() - t0:.1f} s", flush=True)
    per = dict(sorted(got["buffer_bytes_by_module"].items()))
    return {"name": name, "max_loras": max_loras, "max_lora_rank": rank, "lora_target_modules": targets,
            "lora_dtype": "float32", "buffer_bytes_by_module": per, "buffer_bytes_total": sum(per.values()),
            "_vllm": got["vllm"], "_hf_config": got["hf_config"]}


HOW = ("{tool}: for each run, a fresh process builds LLM(model=<model>, enable_lora=True, max_loras=M, "
       "max_lora_rank=R, max_cpu_loras=4, dtype='float32', distributed_executor_backend='uni', "
       "[lora_target_modules=...]) with VLLM_ENABLE_V1_MULTIPROCESSING=0 and sums numel() * element_size() "
       "over the lora_a_stacked and lora_b_stacked tensors of every module of the worker's model "
       "(llm.collective_rpc), per module name, all layers together. No request is sent.")


def write(path: Path, runs: list[dict], model_label: str, comment: str, extra: dict | None = None) -> None:
    versions = {r.pop("_vllm") for r in runs}
    for r in runs:
        r.pop("_hf_config")
    doc = {"_comment": comment, "_how": HOW.format(tool=TOOL), "tool": TOOL, "vllm": versions.pop(),
           "model": model_label, **(extra or {}),
           "captured": {"created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "python": platform.python_version(), "arch": platform.machine(),
                        "cpu_count": os.cpu_count()},
           "runs": runs}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(runs)} run(s) to {path}")


COMMENT = ("Measured, not computed: the bytes of every lora_a_stacked / lora_b_stacked buffer in the model of a "
           "real vLLM engine (vllm-cpu 0.32.0, CPU, single process) serving lab02's tiny model "
           "(configs/lab02-tiny-llama.json) with enable_lora=True, summed per module name (all layers together). "
           "vLLM fuses q,k,v into qkv_proj and gate,up into gate_up_proj, and wraps a fused module whole when any "
           "part of it is a target (the split-target runs); logits_processor holds the LM head's LoRA buffers.")
COMMENT_GEMMA = ("Measured, not computed: the LoRA buffers of a real vLLM engine (vllm-cpu 0.32.0) for a tiny "
                 "GemmaForCausalLM (random weights, tied embeddings; its config is under hf_config) with vLLM's "
                 "default targets: Gemma's model class declares no embedding modules, so neither the token "
                 "embedding nor the LM head gets LoRA slots.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=HERE.parent / "model", help="lab02's model folder")
    ap.add_argument("--runs", nargs="*", help=f"only these runs (known: {', '.join([*RUNS, *GEMMA_RUNS])})")
    ap.add_argument("--out", type=Path, help=f"where the Llama runs go (default {OUT.relative_to(ROOT)})")
    ap.add_argument("--out-gemma", type=Path, help=f"where the Gemma run goes (default {OUT_GEMMA.relative_to(ROOT)})")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--max-loras", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--max-lora-rank", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--targets", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(str(args.model), args.max_loras, args.max_lora_rank, args.targets, args.result)
        return 0
    base = args.model / "base"
    if not (args.model / ".stamp").is_file():
        raise SystemExit(f"no model in {args.model}: run `make lab02-model` first")
    wanted = args.runs or [*RUNS, *GEMMA_RUNS]
    unknown = sorted(set(wanted) - set(RUNS) - set(GEMMA_RUNS))
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; known: {[*RUNS, *GEMMA_RUNS]}")
    llama = [run(n, base, RUNS[n], args.timeout) for n in wanted if n in RUNS]
    if llama:
        write(args.out or OUT, llama, "lab02-tiny-llama", COMMENT)
    gemma_names = [n for n in wanted if n in GEMMA_RUNS]
    if gemma_names:
        with tempfile.TemporaryDirectory(prefix="tiny-gemma-") as tmp:
            model = build_tiny_gemma(Path(tmp) / "gemma", base)
            gemma = [run(n, model, GEMMA_RUNS[n], args.timeout) for n in gemma_names]
        cfg = gemma[0]["_hf_config"]
        keep = ("model_type", "architectures", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings")
        write(args.out_gemma or OUT_GEMMA, gemma, "tiny-gemma", COMMENT_GEMMA,
              {"hf_config": {k: cfg.get(k) for k in keep}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
