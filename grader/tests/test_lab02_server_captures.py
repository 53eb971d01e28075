"""The committed server captures (labs/lab02_serve_many_loras/captured/server/) are genuine tool
output and still show what lab 02's page says, analysed with the course's reference:

* each file's provenance hash matches its contents (nobody edited it by hand);
* without the fix only base rows went wrong over HTTP, with it none did;
* every replayed request got exactly the tokens its trace line asked for;
* lab 04's simulator with the costs fitted on the pilot predicts the main run within the band
  the page states, and the cliff past max_loras shows in both measurement and prediction.
The page's table of the sweep is recomputed here.
"""
from __future__ import annotations

import re
import sys

import pytest

from grader.judge import reference
from grader.labs import ROOT, get

TOOLS = ROOT / "labs" / "lab02_serve_many_loras" / "tools"
sys.path.insert(0, str(TOOLS))
import capture as C  # noqa: E402

online = reference.load(get("lab02"), "online")
workloads = reference.load(get("lab04"), "workloads")
if online is None or workloads is None:
    pytest.skip("no solutions/ in this copy", allow_module_level=True)

NAMES = ["rows-bug", "rows-fixed", "pilot", "main", *(f"sweep-{k}" for k in (1, 2, 3, 4, 6))]
SWEEP = (1, 2, 3, 4, 6)
PAGE = ROOT / "labs" / "lab02_serve_many_loras" / "README.md"


def timings(run):
    r = run["record"]
    return online.request_timings(r["arrivals"], r["sent"], r["chunks"])


def predicted(run, costs):
    trace = [workloads.TraceRequest(**t) for t in run["trace"]]
    s = run["server"]
    return workloads.simulate_timed(trace, s["max_loras"], 32, s["max_cpu_loras"], costs=costs)


@pytest.fixture(scope="module")
def costs():
    return workloads.StepCosts(**online.fit_step_costs(online.load_server_capture("pilot")["steps"]).costs())


def test_captures_are_tool_output():
    for name in NAMES:
        run = online.load_server_capture(name)
        prov = run["provenance"]
        assert prov["tool"] == "labs/lab02_serve_many_loras/tools/capture_server.py"
        assert prov["payload_sha256"] == C.payload_sha256(run), f"{name} was edited after it was recorded"
        assert prov["versions"]["vllm"] == "0.32.0"


def test_over_http_only_base_rows_go_wrong_and_the_fix_rights_them():
    bug, fixed = online.load_server_capture("rows-bug"), online.load_server_capture("rows-fixed")
    wrong = online.explain_rows(bug["prompts"], bug["models"], bug["together"], bug["alone"])
    assert wrong and all(bug["models"][w.row] == online.BASE_MODEL for w in wrong)
    assert not online.explain_rows(fixed["prompts"], fixed["models"], fixed["together"], fixed["alone"])
    assert not bug["server"]["fix"] and fixed["server"]["fix"]


def test_every_replayed_request_got_its_tokens():
    for name in NAMES[2:]:
        run = online.load_server_capture(name)
        assert run["record"]["errors"] == {}, name
        assert [t.tokens for t in timings(run)] == [x["output_tokens"] for x in run["trace"]], name


def test_prediction_against_measurement_and_the_cliff_in_both(costs):
    main = online.load_server_capture("main")
    t = timings(main)
    rep = predicted(main, costs)
    ratios = online.compare({"ttft_s": [x.ttft_s for x in t], "e2e_s": [x.e2e_s for x in t]},
                            {"ttft_s": list(rep.ttft_s), "e2e_s": list(rep.e2e_s)})
    assert all(0.5 <= r <= 3.0 for m in ratios.values() for r in m.values()), ratios
    p99 = {k: (online.percentile([x.ttft_s for x in timings(online.load_server_capture(f"sweep-{k}"))], 99),
               online.percentile(predicted(online.load_server_capture(f"sweep-{k}"), costs).ttft_s, 99))
           for k in (2, 3)}
    assert p99[3][0] > 2 * p99[2][0] and p99[3][1] > 2 * p99[2][1], p99


def test_the_page_table_is_the_captures(costs):
    rows = {}
    for k in SWEEP:
        run = online.load_server_capture(f"sweep-{k}")
        m = [x.ttft_s for x in timings(run)]
        p = predicted(run, costs).ttft_s
        rows[k] = tuple(round(v * 1000) for v in (online.percentile(m, 50), online.percentile(p, 50),
                                                  online.percentile(m, 99), online.percentile(p, 99)))
    page = PAGE.read_text()
    for k, (m50, p50, m99, p99) in rows.items():
        assert re.search(rf"^\| {k} \| {m50} \| {p50} \| {m99} \| {p99} \|", page, re.M), \
            f"the page's sweep row for K={k} should read | {k} | {m50} | {p50} | {m99} | {p99} |"
    fit = online.fit_step_costs(online.load_server_capture("pilot")["steps"])
    stated = ", ".join(f"{getattr(fit, k) * 1000:.2f}" for k in online.COST_FIELDS)
    assert stated in " ".join(page.split()), f"the page should state the fitted costs in ms: {stated}"
    assert f"r² = {fit.r2:.2f}" in page
    # the page's reading of the table: within about 20 % up to 4 adapters, 2-4x slow at 6
    for k in (1, 2, 3, 4):
        m50, p50, m99, p99 = rows[k]
        assert 0.8 <= m50 / p50 <= 1.2 and 0.8 <= m99 / p99 <= 1.2, (k, rows[k])
    m50, p50, m99, p99 = rows[6]
    assert 1.7 <= m99 / p99 <= m50 / p50 <= 4.0, rows[6]
    flat = " ".join(page.split())
    pilot, main = online.load_server_capture("pilot"), online.load_server_capture("main")
    assert f"pilot's {len(pilot['steps']):,} steps" in flat
    assert f"a {len(pilot['trace'])}-request Zipf pilot" in flat and f"a {len(main['trace'])}-request Zipf run" in flat
    sweep = online.load_server_capture("sweep-3")
    assert f"{len(sweep['trace'])} requests at {sweep['workload']['rate']:g} per second each" in flat
    loads = [x for n in NAMES[2:] for when in ("before", "after")
             for x in online.load_server_capture(n)["load_average"][when][:1]]
    assert f"load average between {min(loads):.1f} and {max(loads):.1f}" in flat, (min(loads), max(loads))
    disk = {n: sum(s["disk_loads"] for s in online.load_server_capture(n)["steps"]) for n in ("pilot", "sweep-6")}
    assert f"({disk['sweep-6']} disk loads in that run, {disk['pilot']} in the whole pilot)" in " ".join(page.split())


def test_lab02_and_lab04_percentile_are_the_same_definition():
    """online.py carries its own copy of lab 04's percentile (lab 02's judge cannot import lab 04's
    student module): the two must agree, with numpy's default, on awkward inputs."""
    import random

    import numpy as np

    rng = random.Random(5)
    for _ in range(200):
        xs = [rng.choice([rng.uniform(-5, 5), float(rng.randint(0, 3))]) for _ in range(rng.randint(1, 30))]
        q = rng.choice([0, 1, 25, 50, 90, 99, 99.9, 100, rng.uniform(0, 100)])
        assert online.percentile(xs, q) == workloads.percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))
