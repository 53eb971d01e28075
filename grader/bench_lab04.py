"""Lab 04 benchmark: how long ``simulate`` takes to replay a 1,000,000-request trace.

    make bench-lab04                                   # your labs/ implementation
    python -m grader.bench_lab04 --impl solutions      # the reference
    python -m grader.bench_lab04 --requests 200000     # a shorter trace

The target is under 5 s on one core. This is a measurement, not a test: it prints the wall time
and the CPU time of the process (the second is steadier on a busy machine) and never fails on
them. The trace: Zipf (s = 1) traffic over 64 adapters, 10 % of requests without an adapter,
6 arrivals per step, max_loras = 4, max_num_seqs = 8, one step per request.
"""
from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from pathlib import Path

from grader.labs import ROOT, get

LAB = get("lab04")
TARGET_S = 5.0


def load(impl: str):
    root = Path(impl)
    root = (root if root.is_absolute() else ROOT / root).resolve()
    if not LAB.stub_path(root).is_file():
        raise SystemExit(f"no {LAB.stub_path(root)}: is --impl right?")
    sys.path.insert(0, str(root))
    return importlib.import_module(f"{LAB.name}.{LAB.module}"), root


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impl", default="labs", help="implementation root (labs, solutions, or a folder)")
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--adapters", type=int, default=64)
    ap.add_argument("--per-step", type=int, default=6)
    ap.add_argument("--max-loras", type=int, default=4)
    ap.add_argument("--max-num-seqs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    sc, root = load(args.impl)
    ids = sc.random_ids(args.requests, sc.zipf_weights(args.adapters, 1.0), base_share=0.1, seed=args.seed)
    trace = sc.steady_arrivals(ids, args.per_step)
    print(f"lab04 simulate benchmark: {args.requests:,} requests, Zipf(s=1) over {args.adapters} adapters, "
          f"10% base, {args.per_step}/step, max_loras={args.max_loras}, max_num_seqs={args.max_num_seqs}")
    print(f"implementation: {root}   python {platform.python_version()} on {platform.machine()}")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        report = sc.simulate(trace, args.max_loras, args.max_num_seqs)
    except NotImplementedError as e:
        print(f"simulate is not implemented yet: {e}")
        return 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(f"steps {report.steps:,}   hit rate {report.hit_rate:.4f}   loads {report.loads:,}   "
          f"evictions {report.evictions:,}   deferrals {report.total_deferrals:,}   "
          f"mean wait {report.mean_wait:.3f} steps   max wait {report.max_wait} steps")
    verdict = "under" if cpu < TARGET_S else "OVER"
    print(f"time: {wall:.2f} s wall, {cpu:.2f} s CPU ({verdict} the {TARGET_S:.0f} s target; "
          f"{cpu / max(args.requests, 1) * 1e6:.2f} us CPU per request)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
