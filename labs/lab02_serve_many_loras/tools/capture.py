"""Record real lab02 runs into captured/ (``make lab02-capture``); never edit a capture by hand.

    python labs/lab02_serve_many_loras/tools/capture.py --impl solutions [--out DIR] [--runs NAME ...]
    # a GPU, network access and a hub model instead of the tiny one (see the README):
    python labs/lab02_serve_many_loras/tools/capture.py --impl labs --out /tmp/my-runs --max-lora-rank 16 \
        --base BASE_ID --adapter a1=ADAPTER_ID_1 --adapter a2=ADAPTER_ID_2 --adapter a3=ADAPTER_ID_3

Each run starts a fresh process (tools/engine_run.py) with the environment it needs, so every
engine starts clean and its peak RSS is its own. What is written, per run NAME:

    NAME.json   rows, token ids batched and alone, decoded text, engine args, memory measured in
                the worker, timings, peak RSS, versions, machine, and a provenance block
    NAME.log    the engine's DEBUG log (its stdout and stderr, whole), with one extra line per adapter
                access from the course's trace plugin (tools/lora_trace): vLLM logs misses only

The runs (all on the tiny model from ``make lab02-model``, greedy, float32, 16 tokens):
    hf-reference          HF transformers + PEFT, one row at a time: the independent check
    cpu-bug-max-loras-2   max_loras=2, 3 adapters: every slot busy -> base rows go wrong (0.32.0)
    cpu-free-slot-max-loras-4   way out 1: a slot left free, so index -1 lands on zeros
    cpu-fixed-max-loras-2       way out 2: the course plugin (tools/cpu_lora_fix) fixes the ops;
                          run with the engine core in its own process, to show the plugin is
                          loaded there too
On a CUDA machine the runs are named cuda-* instead and the fixed run is skipped.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAB = HERE.parent
ROOT = LAB.parent.parent
TOOL = "labs/lab02_serve_many_loras/tools/capture.py"
FIX_DIR = HERE / "cpu_lora_fix"
TRACE_DIR = HERE / "lora_trace"
FIX_MARKER = re.compile(r"phase11-cpu-lora-fix: patched .* in pid (\d+)")
PID = re.compile(r"pid=(\d+)")


def has_cuda() -> str | None:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def runs_for(gpu: str | None) -> dict[str, dict]:
    """name -> how to run it: engine args and environment."""
    dev = "cuda" if gpu else "cpu"
    runs = {
        "hf-reference": {"mode": "hf"},
        f"{dev}-bug-max-loras-2": {"mode": "engine", "max_loras": 2, "fix": False, "single_process": True},
        f"{dev}-free-slot-max-loras-4": {"mode": "engine", "max_loras": 4, "fix": False, "single_process": True},
    }
    if not gpu:
        runs["cpu-fixed-max-loras-2"] = {"mode": "engine", "max_loras": 2, "fix": True, "single_process": False}
    return runs


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload_sha256(capture: dict) -> str:
    """The hash a test recomputes: everything but the provenance block, canonical JSON."""
    body = {k: v for k, v in capture.items() if k != "provenance"}
    return sha256_bytes(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def model_fingerprint(model: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(model.rglob("*")):
        if p.is_file() and p.name != ".stamp":
            h.update(str(p.relative_to(model)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def machine(gpu: str | None) -> dict:
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"system": platform.system(), "arch": platform.machine(), "cpu": cpu or platform.processor(),
            "cpu_count": os.cpu_count(), "memory_gib": _mem_gib(), "gpu": gpu}


def _mem_gib():
    try:
        kb = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                      if ln.startswith("MemTotal")))
        return round(kb / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        return None


def run_one(name: str, spec: dict, model: Path, impl: Path, timeout: int, extra: list[str]) -> tuple[dict, str]:
    env = dict(os.environ)
    if not extra:           # the tiny model never needs the hub
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    # one OpenMP thread: with two, the CPU worker's threads spin against each other on a 2-core machine
    env.update(PYTHONHASHSEED="0", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1",
               VLLM_LOGGING_LEVEL="DEBUG", VLLM_CPU_KVCACHE_SPACE="1", VLLM_NO_USAGE_STATS="1",
               DO_NOT_TRACK="1")
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
             if p and Path(p).resolve() not in (FIX_DIR, TRACE_DIR)]
    if spec["mode"] == "engine":
        paths.insert(0, str(TRACE_DIR))
    if spec.get("fix"):
        paths.insert(0, str(FIX_DIR))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *paths])
    # the result comes back in a file of its own: the merged stdout/stderr below is the engine's log,
    # which several processes write into, and a JSON line in it can be cut by another's output
    result_dir = tempfile.TemporaryDirectory(prefix=f"lab02-{name}-")
    result_file = Path(result_dir.name) / "result.json"
    cmd = [sys.executable, str(HERE / "engine_run.py"), spec["mode"], "--model", str(model), "--impl", str(impl),
           "--result", str(result_file), *extra]
    if spec["mode"] == "engine":
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0" if spec["single_process"] else "1"
        cmd += ["--max-loras", str(spec["max_loras"]), "--max-cpu-loras", str(max(3, spec["max_loras"]))]
    print(f"[{name}] running ...", flush=True)
    t0 = time.perf_counter()
    with result_dir:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                              timeout=timeout, cwd=ROOT)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not result_file.is_file():
            sys.stderr.write(proc.stdout[-6000:])
            raise SystemExit(f"[{name}] failed (exit {proc.returncode})")
        result = json.loads(result_file.read_text())
    result["wall_s"] = round(wall, 2)
    log = "\n".join(proc.stdout.splitlines()) + "\n"
    result["_env"] = {k: env[k] for k in sorted(env) if k.startswith("VLLM_") or k in ("PYTHONHASHSEED", "OMP_NUM_THREADS")}
    result["_fix_on_path"] = bool(spec.get("fix"))
    print(f"[{name}] done in {wall:.1f} s", flush=True)
    return result, log


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impl", default="solutions", help="implementation root (labs or solutions)")
    ap.add_argument("--model", type=Path, default=LAB / "model")
    ap.add_argument("--out", type=Path, default=LAB / "captured")
    ap.add_argument("--runs", nargs="*", help="only these runs (default: all for this machine)")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--max-lora-rank", type=int, default=8)
    ap.add_argument("--base", help="a base model folder or hub id instead of the tiny model")
    ap.add_argument("--adapter", action="append", default=[], help="NAME=PATH_OR_HUB_ID (with --base)")
    args = ap.parse_args(argv)
    if bool(args.base) != bool(args.adapter):
        raise SystemExit("--base and --adapter go together")
    extra = ["--max-lora-rank", str(args.max_lora_rank)]
    if args.base:
        extra += ["--base", args.base, *[x for a in args.adapter for x in ("--adapter", a)]]
    impl = (ROOT / args.impl).resolve() if not Path(args.impl).is_absolute() else Path(args.impl)
    if not args.base and not (args.model / ".stamp").is_file():
        raise SystemExit(f"no model in {args.model}: run `make lab02-model` first")
    gpu = has_cuda()
    runs = runs_for(gpu)
    wanted = args.runs or list(runs)
    unknown = sorted(set(wanted) - set(runs))
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; known here: {list(runs)}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.base:
        build, fingerprint = {"base": args.base, "adapters": args.adapter}, None
        adapter_configs = {}
        for a in args.adapter:
            name, where = a.split("=", 1)
            if (Path(where) / "adapter_config.json").is_file():
                adapter_configs[name] = json.loads((Path(where) / "adapter_config.json").read_text())
    else:
        build = json.loads((args.model / "build.json").read_text())
        fingerprint = model_fingerprint(args.model)
        adapter_configs = {p.parent.name: json.loads(p.read_text())
                           for p in sorted((args.model / "adapters").glob("*/adapter_config.json"))}
    for name in wanted:
        spec = runs[name]
        load_before = os.getloadavg()
        result, log = run_one(name, spec, args.model.resolve(), impl, args.timeout, extra)
        capture = {"name": name, "spec": spec, **{k: v for k, v in result.items() if not k.startswith("_")},
                   "load_average": {"before": load_before, "after": os.getloadavg()}}
        if spec["mode"] == "engine":
            pids = sorted({int(p) for p in FIX_MARKER.findall(log)})
            capture["plugins"] = {"trace_on_pythonpath": True, "fix_on_pythonpath": result["_fix_on_path"],
                                  "fix_patched_pids": pids,
                              "log_pids": sorted({int(p) for p in PID.findall(log)})}
            capture["env"] = result["_env"]
        if spec["mode"] == "hf":
            log = ""
        else:
            (args.out / f"{name}.log").write_text(log)
        capture["provenance"] = {
            "tool": TOOL, "impl": args.impl, "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join([Path(sys.executable).name, TOOL, *(argv if argv is not None else sys.argv[1:])]),
            "python": platform.python_version(), "machine": machine(gpu),
            "model": {"fingerprint_sha256": fingerprint, "build": build, "adapter_configs": adapter_configs},
            "log_file": f"{name}.log" if log else None, "log_sha256": sha256_bytes(log.encode()) if log else None,
        }
        capture["provenance"]["payload_sha256"] = payload_sha256(capture)
        (args.out / f"{name}.json").write_text(json.dumps(capture, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(wanted)} capture(s) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
