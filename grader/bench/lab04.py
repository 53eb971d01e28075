"""Lab 04 benchmark: how long ``simulate`` (part 1) and ``simulate_timed`` (part 2) take to
replay 1,000,000 requests each.

    make bench-lab04                                   # your labs/ implementation
    python -m grader.bench.lab04 --impl solutions      # the reference
    python -m grader.bench.lab04 --requests 200000     # shorter traces
    python -m grader.bench.lab04 --part 2              # the timed simulator only

The target is under 5 s of CPU for each. This is a measurement, not a test: it prints the wall
time and the CPU time of the process (the second is steadier on a busy machine) and never fails
on them. Building the traces is not timed.
Part 1's trace: Zipf (s = 1) traffic over 64 adapters, 10 % of requests without an adapter,
6 arrivals per step, max_loras = 4, max_num_seqs = 8, one step per request.
Part 2's trace: 100 requests/s (Poisson), Zipf (alpha = 1.5) over 64 adapters, 10 % base, ranks
(64, 32, 16, 8), prompts of 16-64 tokens, outputs of 1-8, max_loras = 8, max_num_seqs = 32,
max_cpu_loras = 32, default StepCosts.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from grader.labs import ROOT, get

LAB = get("lab04")
TARGET_S = 5.0


def load(impl: str):
    root = Path(impl)
    root = (root if root.is_absolute() else ROOT / root).resolve()
    from grader.notebook import import_lab

    try:
        return import_lab(LAB, root, hint="is --impl right?"), root
    except FileNotFoundError as e:
        raise SystemExit(str(e)) from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impl", default="labs", help="implementation root (labs, solutions, or a folder)")
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--adapters", type=int, default=64)
    ap.add_argument("--per-step", type=int, default=6)
    ap.add_argument("--max-loras", type=int, default=4)
    ap.add_argument("--max-num-seqs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--part", choices=("1", "2", "both"), default="both")
    args = ap.parse_args(argv)

    mods, root = load(args.impl)
    print(f"implementation: {root}   python {platform.python_version()} on {platform.machine()}")
    rc = 0
    if args.part in ("1", "both"):
        rc |= part1(mods["slot_cache"], args)
    if args.part in ("2", "both"):
        rc |= part2(mods["workloads"], args)
    return rc


def report_time(n: int, wall: float, cpu: float) -> None:
    verdict = "under" if cpu < TARGET_S else "OVER"
    print(f"time: {wall:.2f} s wall, {cpu:.2f} s CPU ({verdict} the {TARGET_S:.0f} s target; "
          f"{cpu / max(n, 1) * 1e6:.2f} us CPU per request)")


def part1(sc, args) -> int:
    ids = sc.random_ids(args.requests, sc.zipf_weights(args.adapters, 1.0), base_share=0.1, seed=args.seed)
    trace = sc.steady_arrivals(ids, args.per_step)
    print(f"lab04 simulate benchmark: {args.requests:,} requests, Zipf(s=1) over {args.adapters} adapters, "
          f"10% base, {args.per_step}/step, max_loras={args.max_loras}, max_num_seqs={args.max_num_seqs}")
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
    report_time(args.requests, wall, cpu)
    return 0


def part2(wl, args) -> int:
    try:
        trace = wl.make_trace(args.requests, 100.0, kind="zipf", n_adapters=args.adapters, alpha=1.5,
                              base_share=0.1, rank_mix=(64, 32, 16, 8), prompt=(16, 64), output=(1, 8),
                              seed=args.seed)
    except NotImplementedError as e:
        print(f"part 2: the workload generator is not implemented yet: {e}")
        return 1
    print(f"\nlab04 simulate_timed benchmark: {args.requests:,} requests at 100/s, Zipf(1.5) over "
          f"{args.adapters} adapters, 10% base, max_loras=8, max_num_seqs=32, max_cpu_loras=32")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        report = wl.simulate_timed(trace, 8, 32, 32)
    except NotImplementedError as e:
        print(f"simulate_timed is not implemented yet: {e}")
        return 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(f"steps {report.steps:,}   simulated {report.duration_s:,.0f} s   hits {report.hits:,}   "
          f"host loads {report.host_loads:,}   disk loads {report.disk_loads:,}")
    try:
        s = wl.latency_summary(trace, report, 0.2)
        print(f"TTFT p50 {s.ttft_p50_s * 1000:.1f} ms   p99 {s.ttft_p99_s * 1000:.1f} ms   "
              f"within 200 ms {s.slo_attainment:.1%}   throughput {s.throughput_rps:.1f}/s   fairness {s.fairness:.2f}")
    except NotImplementedError:
        pass
    report_time(args.requests, wall, cpu)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
