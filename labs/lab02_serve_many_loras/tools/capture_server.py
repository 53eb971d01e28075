"""Record real runs of vLLM's OpenAI server into captured/server/ (``make lab02-serve``); never edit one by hand.

    python labs/lab02_serve_many_loras/tools/capture_server.py [--out DIR] [--scale 1.0]

Everything part 2 of lab 02 reads, recorded on the tiny model so a student without the engine
does the same work on it:

    rows-bug.json.gz     16 rows sent at once and each alone, max_loras=2, no fix (invariant 5 over HTTP)
    rows-fixed.json.gz   the same with the course's fix loaded into the server
    pilot.json.gz        a short Zipf trace replayed, with the engine's step log: fit the costs on this
    main.json.gz         a longer Zipf trace (20 % base requests) over 6 adapters, max_loras=2
    sweep-K.json.gz      uniform traffic over K adapters (K = 1, 2, 3, 4, 6), max_loras=2: the cliff

Each replay file holds the trace, the raw record of tools/replay.py (scheduled and actual send
times, each chunk's time and token count), the step-log lines written during that replay, and a
provenance block (tool, command, versions, server flags, machine, load average before and after,
a hash of everything else). Six adapters are the three trained ones plus three copies with their
``lora_B`` scaled (different outputs, same cost). The replays share one server started with the
fix (it changes which rows are right, not what a step costs); the rows files start their own.
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import capture as C  # noqa: E402  (its provenance helpers: machine, hashes)
import replay as R  # noqa: E402
import server as S  # noqa: E402

ROOT = HERE.parent.parent.parent
TOOL = "labs/lab02_serve_many_loras/tools/capture_server.py"
OUT = HERE.parent / "captured" / "server"
MAX_LORAS = 2
# (name, kind, n_adapters, requests, rate per second, base share, seed)
REPLAYS = [("pilot", "zipf", 6, 120, 6.0, 0.2, 11), ("main", "zipf", 6, 360, 6.0, 0.2, 12),
           *[(f"sweep-{k}", "uniform", k, 150, 6.0, 0.0, 20 + k) for k in (1, 2, 3, 4, 6)]]


def extra_adapters(folder: Path, count: int = 3) -> dict[str, Path]:
    """Copies of the trained adapters with lora_B scaled: new outputs, same shapes and cost."""
    from safetensors.torch import load_file, save_file

    out = {}
    for k in range(count):
        src = S.MODEL / "adapters" / S.ADAPTERS[k % len(S.ADAPTERS)]
        dest = folder / f"copy{k + 1}"
        shutil.copytree(src, dest)
        weights = load_file(str(dest / "adapter_model.safetensors"))
        weights = {n: (t * (1.5 + 0.5 * k) if "lora_B" in n else t) for n, t in weights.items()}
        save_file(weights, str(dest / "adapter_model.safetensors"))
        out[dest.name] = dest
    return out


def rows_check(fix: bool) -> dict:
    rows = R.rows()
    with S.Server(max_loras=MAX_LORAS, max_cpu_loras=4, fix=fix) as srv:
        together, alone = R.together_and_alone(srv.url + "/v1", rows)
        return {"prompts": [p for p, _ in rows], "models": [m for _, m in rows], "together": together,
                "alone": alone, "server": _server_facts(srv)}


def _server_facts(srv: S.Server) -> dict:
    return {"command": [Path(a).name if a == sys.executable else a for a in srv.command()],
            "fix": srv.fix, "started_s": srv.started_s, "max_loras": srv.max_loras, "max_cpu_loras": srv.max_cpu_loras}


def replays(scale: float) -> dict[str, dict]:
    workloads = _reference_workloads()
    out = {}
    with tempfile.TemporaryDirectory(prefix="lab02-capture-") as tmp:
        adapters = {**S.default_adapters(), **extra_adapters(Path(tmp))}
        names = list(adapters)
        step_log = Path(tmp) / "steps.jsonl"
        with S.Server(max_loras=MAX_LORAS, max_cpu_loras=4, fix=True, adapters=adapters, step_log=step_log) as srv:
            models = {0: S.SERVED_NAME, **{k + 1: n for k, n in enumerate(names)}}
            for name, kind, n_adapters, n, rate, base, seed in REPLAYS:
                trace = [t._asdict() for t in workloads.make_trace(
                    max(10, int(n * scale)), rate, kind=kind, n_adapters=n_adapters, alpha=1.5, base_share=base,
                    rank_mix=(8,), prompt=(16, 128), output=(8, 64), seed=seed)]
                load_before = os.getloadavg()
                wall0 = time.time()
                record = asyncio.run(R.replay(trace, srv.url + "/v1", models))
                wall1 = time.time()
                steps = [s for s in map(json.loads, step_log.read_text().splitlines()) if wall0 <= s["t"] <= wall1]
                print(f"[{name}] {len(trace)} requests, {len(steps)} steps, {len(record['errors'])} errors, "
                      f"{wall1 - wall0:.1f} s, load {os.getloadavg()[0]:.1f}", flush=True)
                out[name] = {"name": name, "workload": {"kind": kind, "n_adapters": n_adapters, "rate": rate,
                                                        "base_share": base, "seed": seed},
                             "trace": trace, "record": {k: v for k, v in record.items() if k != "tokens"},
                             "tokens_received": [len(t) for t in record["tokens"]], "steps": steps,
                             "load_average": {"before": load_before, "after": os.getloadavg()},
                             "server": _server_facts(srv)}
    return out


def _reference_workloads():
    sys.path.insert(0, str(ROOT))
    from grader.judge import reference
    from grader.labs import get
    wl = reference.load(get("lab04"), "workloads")
    if wl is None:
        raise SystemExit("capture_server needs the course's lab 04 reference (solutions/): it makes the traces")
    return wl


def write(out: Path, name: str, capture: dict, argv) -> None:
    import vllm
    capture["provenance"] = {
        "tool": TOOL, "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join([Path(sys.executable).name, TOOL, *argv]), "python": platform.python_version(),
        "versions": {"vllm": vllm.__version__}, "machine": C.machine(None),
        "model_fingerprint_sha256": C.model_fingerprint(S.MODEL),
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                     text=True).stdout.strip() or None,
    }
    capture["provenance"]["payload_sha256"] = C.payload_sha256(capture)
    data = json.dumps(capture, sort_keys=True, separators=(",", ":")).encode()
    (out / f"{name}.json.gz").write_bytes(gzip.compress(data, mtime=0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--scale", type=float, default=1.0, help="shorter traces (e.g. 0.2 for a quick look)")
    args = ap.parse_args(argv)
    argv = argv if argv is not None else sys.argv[1:]
    args.out.mkdir(parents=True, exist_ok=True)
    for fix in (False, True):
        write(args.out, "rows-fixed" if fix else "rows-bug", rows_check(fix), argv)
    for name, capture in replays(args.scale).items():
        write(args.out, name, capture, argv)
    print(f"wrote captures to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
