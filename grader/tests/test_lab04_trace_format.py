"""The course-provided half of lab 04 part 2: the trace file format lab 02 replays, the input
checks, ``percentile`` and ``make_trace`` (the reference module, imported from solutions/)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from grader.judge import reference
from grader.labs import ROOT, get

LAB = get("lab04")
wl = reference.load(LAB, "workloads")
if wl is None:
    pytest.skip("no solutions/ in this copy (student release)", allow_module_level=True)
T = wl.TraceRequest


def test_trace_round_trips_through_json_lines(tmp_path):
    trace = wl.make_trace(300, 5.0, kind="zipf", n_adapters=6, base_share=0.2, rank_mix=(64, 32, 16, 8), seed=4)
    path = tmp_path / "t.jsonl"
    assert wl.write_trace(path, trace) == 300
    lines = path.read_text().splitlines()
    assert len(lines) == 300 and all(set(json.loads(x)) == set(wl.TRACE_FIELDS) for x in lines)
    assert wl.read_trace(path) == trace


def test_make_trace_is_deterministic_and_consistent():
    a = wl.make_trace(500, 10.0, cv=2.0, kind="uniform", n_adapters=5, base_share=0.3,
                      rank_mix=(64, 32, 16, 8), prompt=(4, 9), output=3, seed=7)
    assert a == wl.make_trace(500, 10.0, cv=2.0, kind="uniform", n_adapters=5, base_share=0.3,
                              rank_mix=(64, 32, 16, 8), prompt=(4, 9), output=3, seed=7)
    assert a != wl.make_trace(500, 10.0, cv=2.0, kind="uniform", n_adapters=5, seed=8)
    for r in a:
        assert r.rank == ((64, 32, 16, 8)[(r.adapter - 1) % 4] if r.adapter else 0)
        assert 4 <= r.prompt_tokens <= 9 and r.output_tokens == 3
    assert [r.arrival_s for r in a] == sorted(r.arrival_s for r in a)


@pytest.mark.parametrize("line, words", [
    ('{"arrival_s": 0.5, "adapter": 1, "rank": 8, "prompt_tokens": 4}', "keys"),
    ("not json", "not JSON"),
    ('{"arrival_s": 0.5, "adapter": 0, "rank": 8, "prompt_tokens": 4, "output_tokens": 2}', "rank"),
    ('{"arrival_s": -1, "adapter": 1, "rank": 8, "prompt_tokens": 4, "output_tokens": 2}', "arrival_s"),
])
def test_a_bad_trace_file_names_the_line(tmp_path, line, words):
    path = tmp_path / "bad.jsonl"
    good = json.dumps(dict(arrival_s=0.0, adapter=1, rank=8, prompt_tokens=4, output_tokens=2))
    path.write_text(good + "\n\n" + line + "\n")
    with pytest.raises(ValueError, match=words) as e:
        wl.read_trace(path)
    assert str(path) in str(e.value)
    if words in ("keys", "not JSON"):
        assert f"{path}:3:" in str(e.value)          # the blank line counts: line numbers are the file's


def test_unsorted_trace_is_named():
    with pytest.raises(ValueError, match=r"trace\[1\] arrives at 0.5 s, before trace\[0\]"):
        wl.check_timed_trace([T(1.0, 1, 8, 4, 2), T(0.5, 1, 8, 4, 2)])


def test_percentile_is_numpys_linear():
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 10, 101, 1000):
        xs = list(rng.exponential(size=n))
        for q in (0, 1, 25, 50, 90, 99, 99.9, 100):
            assert wl.percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)), rel=1e-12)
    with pytest.raises(ValueError):
        wl.percentile([], 50)
    with pytest.raises(ValueError):
        wl.percentile([1.0], 101)


def test_step_costs_refuse_nonsense():
    for bad in (dict(base_step_s=0.0), dict(per_token_s=-1e-6), dict(disk_load_s="slow"), dict(host_load_s=True)):
        with pytest.raises(ValueError, match="StepCosts"):
            wl.StepCosts(**bad)


def test_power_distribution_at_one_is_uniform():
    """The lab page's trap: numpy.random.power(1) (S-LoRA's popularity draw at alpha = 1) is uniform."""
    x = np.random.default_rng(1).power(1.0, 200_000)
    counts = np.bincount((x * 8).astype(int), minlength=8) / len(x)
    assert np.all(np.abs(counts - 1 / 8) < 0.005)
    y = np.random.default_rng(1).power(1.5, 200_000)           # alpha > 1 favours the LAST adapters
    shares = np.bincount((y * 8).astype(int), minlength=8) / len(y)
    assert np.all(np.diff(shares) > 0)


def test_the_page_states_the_default_costs_and_the_rank_row_size():
    page = LAB.page.read_text()
    c = wl.StepCosts()
    said = (f"({c.base_step_s * 1e3:.0f} ms a step, {c.per_token_s * 1e6:.0f} µs a prompt token, "
            f"{c.host_load_s * 1e3:.0f} ms to copy an adapter from\nhost memory, {c.disk_load_s * 1e3:.0f} ms "
            f"to read one from disk)")
    assert said in page, said
    # one rank of a Llama-7B-shaped adapter on q, k, v, o in 32 layers, fp16
    assert 32 * 4 * (4096 + 4096) * 2 == 2 * 2 ** 20
    assert "32 × 4 × (4096 + 4096) × 2 bytes = 2 MiB" in page


def test_the_page_shows_the_notebooks_trace(tmp_path):
    """The two JSON lines on the page are the start of the trace the notebook writes for lab 02."""
    trace = wl.make_trace(200, 4.0, kind="zipf", n_adapters=3, alpha=1.5, base_share=0.2, rank_mix=(8, 16),
                          prompt=(8, 48), output=(4, 16), seed=3)
    path = tmp_path / "lab04_zipf.jsonl"
    wl.write_trace(path, trace)
    first_two = "\n".join(path.read_text().splitlines()[:2])
    assert "```json\n" + first_two + "\n```" in LAB.page.read_text()
    notebook = "".join("".join(c["source"]) for c in json.loads(LAB.notebook.read_text())["cells"])
    assert ('wl.make_trace(200, 4.0, kind="zipf", n_adapters=3, alpha=1.5, base_share=0.2, rank_mix=(8, 16),\n'
            '                      prompt=(8, 48), output=(4, 16), seed=3)') in notebook


def test_the_page_states_the_benchmarks_own_target():
    from grader.bench import lab04 as bench_lab04

    page = (ROOT / "labs" / "lab04_adapter_slot_cache" / "README.md").read_text()
    assert f"in under {bench_lab04.TARGET_S:g} s of CPU" in page
    default = int(re.search(r'"--requests", type=int, default=([\d_]+)', Path(bench_lab04.__file__).read_text())
                  .group(1))
    assert f"{default:,}-request trace" in page


def test_the_notebooks_tail_before_saturation_and_the_geometric_shares_on_the_page():
    """Numbers the lab 04 notebook and page state: the Zipf sweep's p99 at 5 and 10 requests/s,
    and the geometric ("skewed") law's shares at alpha = 1.5 over 4 adapters."""
    nb = (ROOT / "notebooks" / "lab04_adapter_slot_cache.ipynb").read_text()
    got = []
    for rate in (5, 10):
        trace = wl.make_trace(3000, rate, cv=1.0, kind="zipf", n_adapters=32, alpha=1.5, prompt=(16, 256),
                              output=(16, 128), seed=1)
        s = wl.latency_summary(trace, wl.simulate_timed(trace, 8, 64, max_cpu_loras=32), 0.2)
        got.append(round(s.ttft_p99_s * 1000))
    assert f"p99 is {got[0]} ms at 5 requests/s and {got[1]} ms at 10" in nb, got
    weights = [1.5 ** -i for i in range(4)]
    shares = ", ".join(f"{w / sum(weights):.3f}" for w in weights[:3]) + f" and {weights[3] / sum(weights):.3f}"
    assert f"that is {shares}" in " ".join(LAB.page.read_text().split()), shares


def test_lru_one_more_adapter_than_slots_thrashes_only_in_cyclic_order():
    """CHEATSHEET and INTERVIEW: cyclic order over slots + 1 adapters misses every time; uniform
    random traffic over 9 adapters on 8 slots hits 8/9 (LRU under independent uniform requests)."""
    sc = reference.load(LAB, "slot_cache")
    assert sc.replay_hit_rate(sc.cyclic_ids(9_000, 9), 8) == 0.0
    rate = sc.replay_hit_rate(sc.random_ids(200_000, [1.0] * 9, seed=3), 8)
    assert abs(rate - 8 / 9) < 0.005, rate
    for page in ("CHEATSHEET.md", "INTERVIEW.md"):
        assert "8/9" in (ROOT / "phase11" / page).read_text(), page
