"""Lab 01 benchmark: what grouping by adapter buys, measured on your machine.

    python -m grader.bench.lab01 [--impl solutions|labs|DIR] [--tokens 512] [--hidden 4096]
                                 [--rank 16] [--adapters 8] [--dtype float32] [--no-sweep]

In one run, on the same inputs (T rows, every row on one of N adapters, interleaved), it times:
  base      x @ W.T alone: the floor any LoRA method pays anyway
  loop      apply_multi_lora_loop: row by row, each row reads W again
  grouped   apply_multi_lora_grouped: one base product + one shrink/expand per adapter
  slots     apply_multi_lora_slots on stack_slots' weights (stacking is done before timing)
  vllm      vLLM's pure-torch punica ops (vllm.lora.ops.torch_ops.bgmv_shrink/bgmv_expand) on the
            same stacked weights, plus the same base product; skipped when vLLM is not installed
and reports each as a ratio to `base`. Writes build/bench/lab01.{md,json,png}. Timings are the
medians over several rounds in which the methods take turns, with torch's default
thread count; they are measurements, not tests.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from grader.labs import ROOT, get

LAB = get("lab01")
OUT = ROOT / "build" / "bench"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_module(impl: str | Path | None = None):
    """Import lab01's module from an implementation root (default: solutions/ if present, else labs/)."""
    from grader.notebook import import_lab

    if impl is None:
        impl = "solutions" if (ROOT / "solutions" / LAB.name).is_dir() else "labs"
    root = Path(impl)
    root = (root if root.is_absolute() else ROOT / root).resolve()
    return import_lab(LAB, root)["batched_lora"]


def make_inputs(bl, T: int, d_in: int, d_out: int, rank: int, n_adapters: int, dtype, seed: int = 0):
    """x (T, in), W (out, in), adapters {1..N}, adapter_ids (T,) round-robin then shuffled (no base rows)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, d_in, generator=g).to(dtype)
    W = (torch.randn(d_out, d_in, generator=g) / d_in ** 0.5).to(dtype)
    adapters = {i: bl.LoRAAdapter((torch.randn(rank, d_in, generator=g) / d_in ** 0.5).to(dtype),
                                  (torch.randn(d_out, rank, generator=g) / rank ** 0.5).to(dtype), 2.0)
                for i in range(1, n_adapters + 1)}
    ids = (torch.arange(T) % n_adapters + 1)[torch.randperm(T, generator=g)]
    return x, W, adapters, ids


def _time_round_robin(methods: dict, repeats: int, loop_repeats: int) -> dict[str, dict]:
    """Time the methods in turns (base, grouped, ..., base, grouped, ...) after one warm-up each.

    Taking turns means a burst of load from elsewhere on the machine hits every method alike;
    each method's ratio to base is the median over rounds of (its time / base's time that round).
    The loop is slow, so it takes part only in the first ``loop_repeats`` rounds and is not warmed up.
    """
    for name, fn in methods.items():
        if name != "loop":
            fn()
    times: dict[str, list[float]] = {name: [] for name in methods}
    ratios: dict[str, list[float]] = {name: [] for name in methods}
    for k in range(repeats):
        this_round = {}
        for name, fn in methods.items():
            if name == "loop" and k >= loop_repeats:
                continue
            t0 = time.perf_counter()
            fn()
            this_round[name] = time.perf_counter() - t0
        for name, t in this_round.items():
            times[name].append(t)
            ratios[name].append(t / this_round["base"])
    return {name: {"seconds": statistics.median(times[name]), "ratio_to_base": statistics.median(ratios[name])}
            for name in methods}


def _vllm_ops():
    try:
        from vllm.lora.ops.torch_ops import bgmv_expand, bgmv_shrink
    except Exception:                       # not installed, or a build that cannot import here
        return None
    return bgmv_shrink, bgmv_expand


def run(bl, T=512, d_in=4096, d_out=4096, rank=16, n_adapters=8, dtype=torch.float32,
        repeats=7, loop_repeats=3, with_loop=True, with_vllm=True, seed=0) -> dict:
    """Time every method once on the same inputs; returns a dict (config, rows, max_abs_diff)."""
    x, W, adapters, ids = make_inputs(bl, T, d_in, d_out, rank, n_adapters, dtype, seed)
    slot_adapters = [adapters[i] for i in sorted(adapters)]
    token_slots = ids - 1                                        # adapter i sits in slot i - 1
    A_st, B_st = bl.stack_slots(slot_adapters, max_rank=rank)

    methods = {
        "base": lambda: x @ W.T,
        "grouped": lambda: bl.apply_multi_lora_grouped(x, W, adapters, ids),
        "slots": lambda: bl.apply_multi_lora_slots(x, W, A_st, B_st, token_slots),
    }
    if with_loop:
        methods["loop"] = lambda: bl.apply_multi_lora_loop(x, W, adapters, ids)
    ops = _vllm_ops() if with_vllm else None
    if ops:
        bgmv_shrink, bgmv_expand = ops

        def vllm():
            out = x @ W.T
            buf = torch.zeros(T, rank, dtype=torch.float32)
            bgmv_shrink(x, A_st, buf, token_slots, 1.0)            # scaling already folded into B_st
            bgmv_expand(buf, B_st, out, token_slots, add_inputs=True)
            return out
        methods["vllm"] = vllm

    reference = methods["grouped"]().float()
    diffs = {name: float((fn().float() - reference).abs().max()) for name, fn in methods.items()
             if name not in ("base", "grouped", "loop")}
    timed = _time_round_robin(methods, repeats, min(loop_repeats, repeats))
    if "loop" in methods:
        diffs["loop"] = float((methods["loop"]().float() - reference).abs().max())
    rows = [{"method": name, **timed[name]} for name in methods]
    return {
        "config": dict(T=T, d_in=d_in, d_out=d_out, rank=rank, n_adapters=n_adapters, dtype=str(dtype)[6:],
                       threads=torch.get_num_threads(), torch=torch.__version__),
        "rows": rows,
        "max_abs_diff_vs_grouped": diffs,
        "vllm": bool(ops),
    }


def sweep_adapters(bl, counts=(1, 2, 4, 8, 16, 32), repeats=3, **kw) -> list[dict]:
    """Grouped overhead over the base product as the number of distinct adapters grows."""
    out = []
    for n in counts:
        r = run(bl, n_adapters=n, repeats=repeats, with_loop=False, with_vllm=False, **kw)
        ratio = {row["method"]: row["ratio_to_base"] for row in r["rows"]}
        out.append({"n_adapters": n, "grouped": ratio["grouped"], "slots": ratio["slots"]})
    return out


def headline(result: dict) -> dict:
    """The three numbers the lab page reports, from one run."""
    sec = {row["method"]: row["seconds"] for row in result["rows"]}
    h = {"grouped_overhead_pct": 100 * (sec["grouped"] / sec["base"] - 1)}
    if "loop" in sec:
        h["loop_over_grouped"] = sec["loop"] / sec["grouped"]
    if "vllm" in sec:
        h["vllm_over_grouped"] = sec["vllm"] / sec["grouped"]
    return h


def table(result: dict) -> str:
    c = result["config"]
    lines = [f"lab01 benchmark: T={c['T']}, in={c['d_in']}, out={c['d_out']}, r={c['rank']}, "
             f"{c['n_adapters']} adapters, {c['dtype']}, {c['threads']} threads, torch {c['torch']}",
             "", "| method | time (ms) | ratio to base |", "|---|---:|---:|"]
    for row in result["rows"]:
        lines.append(f"| {row['method']} | {1000 * row['seconds']:.1f} | {row['ratio_to_base']:.2f} |")
    h = headline(result)
    lines += ["", f"grouped overhead over base: {h['grouped_overhead_pct']:.1f}%"]
    if "loop_over_grouped" in h:
        lines.append(f"loop / grouped: {h['loop_over_grouped']:.1f}x")
    if "vllm_over_grouped" in h:
        lines.append(f"vLLM torch ops / grouped: {h['vllm_over_grouped']:.2f}x")
    return "\n".join(lines) + "\n"


def plot(result: dict, sweep: list[dict] | None, path: Path | None = None):
    """Bar chart of time relative to the base product (log scale), and the adapter-count sweep."""
    import matplotlib.pyplot as plt

    ncols = 2 if sweep else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.5 * ncols, 3.8), squeeze=False)
    ax = axes[0][0]
    names = [r["method"] for r in result["rows"]]
    ratios = [r["ratio_to_base"] for r in result["rows"]]
    colors = {"base": "#888888", "loop": "#d62728", "grouped": "#2ca02c", "slots": "#1f77b4", "vllm": "#ff7f0e"}
    ax.bar(names, ratios, color=[colors.get(n, "#555555") for n in names])
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", lw=0.8)
    for i, v in enumerate(ratios):
        ax.text(i, v, f"{v:.2f}x", ha="center", va="bottom", fontsize=8)
    c = result["config"]
    ax.set_title(f"T={c['T']}, {c['d_in']}->{c['d_out']}, r={c['rank']}, {c['n_adapters']} adapters, {c['dtype']}",
                 fontsize=9)
    ax.set_ylabel("time / base product (log)")
    if sweep:
        ax2 = axes[0][1]
        n = [s["n_adapters"] for s in sweep]
        ax2.plot(n, [100 * (s["grouped"] - 1) for s in sweep], "o-", color=colors["grouped"], label="grouped")
        ax2.plot(n, [100 * (s["slots"] - 1) for s in sweep], "s--", color=colors["slots"], label="slots")
        ax2.set_xscale("log", base=2)
        ax2.set_xticks(n, [str(k) for k in n])
        ax2.minorticks_off()
        ax2.set_xlabel("distinct adapters in the batch")
        ax2.set_ylabel("overhead over base product (%)")
        ax2.set_title("same T: more adapters, smaller groups", fontsize=9)
        ax2.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--impl", default=None, help="solutions (default when present), labs, or a directory")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=4096, help="in = out = this")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--adapters", type=int, default=8)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-sweep", action="store_true", help="skip the adapter-count sweep")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    bl = load_module(args.impl)
    kw = dict(T=args.tokens, d_in=args.hidden, d_out=args.hidden, rank=args.rank, dtype=DTYPES[args.dtype])
    result = run(bl, n_adapters=args.adapters, repeats=args.repeats, **kw)
    result["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    result["headline"] = headline(result)
    sweep = None if args.no_sweep else sweep_adapters(bl, **kw)
    result["sweep"] = sweep
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lab01.md").write_text(table(result))
    (args.out / "lab01.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, sweep, args.out / "lab01.png")
    print(table(result), end="")
    if not result["vllm"]:
        print("(vLLM not importable: its torch ops were skipped)")
    print(f"max |difference| vs grouped: {result['max_abs_diff_vs_grouped']}")
    print(f"wrote {args.out / 'lab01.md'}, lab01.json, lab01.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
