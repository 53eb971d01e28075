"""What lab02's runs show, computed from a folder of captures with a given implementation.

    python labs/lab02_serve_many_loras/tools/findings.py [--captured DIR] [--impl solutions] [--out FILE]

Prints one JSON object (or writes it to FILE: what a program reading it should use, since the
lab's imports may print to stdout too). For every engine run: which rows differ batched vs alone, which differ
from HF transformers + PEFT, how the slot events replay through lab04's cache, whether the
course fix was loaded and where. Then the adapter memory the engine held next to lab03's
formulas. The course's real-engine test (grader/tests/test_lab02_engine.py) asserts on this.
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
DECODER = re.compile(r"^model\.layers\.\d+\.")


def findings(captured: Path, impl: Path, model: Path | None = None) -> dict:
    sys.path.insert(0, str(impl))
    from lab02_serve_many_loras import serve
    from lab03_lora_economics import economics as eco

    hf = serve.load_capture("hf-reference", captured)["hf"]
    out: dict = {"runs": {}}
    memory = None
    for path in sorted(captured.glob("*.json")):
        if path.stem == "hf-reference":
            continue
        cap = serve.load_capture(path.stem, captured)
        max_loras = cap["engine_kwargs"]["max_loras"]
        rows = lambda ms: [m.row for m in ms]  # noqa: E731
        report = serve.replay_through_cache(serve.parse_lora_events(cap["log"]), max_loras)
        worker_pids = sorted({int(p) for p in re.findall(r"Worker(?:-\d+)? pid=(\d+)", cap["log"])})
        out["runs"][path.stem] = {
            "max_loras": max_loras,
            "adapters": len({r["adapter"] for r in cap["rows"] if r["adapter"]}),
            "rows": len(cap["rows"]),
            "base_rows": [r["row"] for r in cap["rows"] if r["adapter"] is None],
            "mismatch_rows": rows(serve.find_mismatches(cap["batched"], cap["alone"])),
            "alone_vs_hf_rows": rows(serve.find_mismatches(cap["alone"], hf)),
            "batched_vs_hf_rows": rows(serve.find_mismatches(cap["batched"], hf)),
            "replay": {"mode": report.mode, "steps": len(report.steps), "agree": report.agree,
                       "kinds": dict(collections.Counter(s.engine_kind for s in report.steps))},
            "fix": cap.get("plugins", {}).get("fix_on_pythonpath"),
            "fix_patched_pids": cap.get("plugins", {}).get("fix_patched_pids", []),
            "worker_pids": worker_pids,
            "timings_s": cap.get("timings_s"), "peak_tree_rss_mib": cap.get("peak_tree_rss_mib"),
        }
        if cap.get("memory") and memory is None:
            memory = (cap, max_loras)

    if memory:
        cap, max_loras = memory
        model_info = cap["provenance"]["model"]
        shape = eco.model_shape_from_config(cap["model_config"])
        ranks_targets = {eco.peft_rank_and_targets(c) for c in model_info["adapter_configs"].values()}
        if len(ranks_targets) != 1:
            raise ValueError(f"the adapters differ in rank or targets: {ranks_targets}")
        ((rank, targets),) = ranks_targets
        mem = cap["memory"]
        decoder = sum(v for k, v in mem["slot_buffers"].items() if DECODER.match(k))
        outside = {k: v for k, v in mem["slot_buffers"].items() if not DECODER.match(k)}
        wrapped = sorted({k.split(".")[-1] for k in mem["slot_buffers"] if DECODER.match(k)})
        out["memory"] = {
            "rank": rank, "targets": list(targets), "max_loras": max_loras,
            "max_lora_rank": cap["engine_kwargs"]["max_lora_rank"],
            "host_adapter_bytes": sorted(set(mem["host_adapter_bytes"].values())),
            "lab03_adapter_bytes_fp32": eco.adapter_bytes(shape, rank, targets, "float32"),
            "lab03_adapter_bytes_fp16": eco.adapter_bytes(shape, rank, targets, "float16"),
            "engine_wraps": wrapped,
            "slot_bytes_decoder": decoder,
            "lab03_slot_bytes_fp32": eco.slot_bytes(shape, max_loras, cap["engine_kwargs"]["max_lora_rank"],
                                                    eco.ALL_LINEAR, "float32"),
            "slot_bytes_outside_decoder": outside,
            "lab03_slot_bytes_targets_only_fp32": eco.slot_bytes(
                shape, max_loras, cap["engine_kwargs"]["max_lora_rank"], targets, "float32"),
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captured", type=Path, default=HERE.parent / "captured")
    ap.add_argument("--impl", default="solutions")
    ap.add_argument("--out", type=Path, help="write the JSON here instead of to stdout")
    args = ap.parse_args(argv)
    impl = Path(args.impl) if Path(args.impl).is_absolute() else ROOT / args.impl
    text = json.dumps(findings(args.captured.resolve(), impl.resolve()), indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
