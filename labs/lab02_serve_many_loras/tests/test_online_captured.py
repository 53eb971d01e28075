"""Public tests, TODO 8-11 on real server runs (captured/server/, recorded by tools/capture_server.py)."""
import pytest

from lab02_serve_many_loras import online


@pytest.mark.points(2)
def test_over_http_only_base_rows_go_wrong_and_the_fix_rights_them():
    bug, fixed = online.load_server_capture("rows-bug"), online.load_server_capture("rows-fixed")
    wrong = online.explain_rows(bug["prompts"], bug["models"], bug["together"], bug["alone"])
    assert wrong, "the capture without the fix has base rows that went wrong"
    assert all(bug["models"][w.row] == online.BASE_MODEL for w in wrong)
    assert online.explain_rows(fixed["prompts"], fixed["models"], fixed["together"], fixed["alone"]) == []


@pytest.mark.points(1)
def test_timings_of_a_real_replay():
    run = online.load_server_capture("main")
    r = run["record"]
    timings = online.request_timings(r["arrivals"], r["sent"], r["chunks"])
    # ignore_eos: every request got exactly the tokens its trace line asked for
    assert [t.tokens for t in timings] == [x["output_tokens"] for x in run["trace"]]
    assert all(0 <= t.late_s and 0 < t.ttft_s <= t.e2e_s for t in timings)


@pytest.mark.points(1)
def test_the_cliff_past_max_loras_in_the_measurement():
    # uniform traffic at the same rate over K adapters, max_loras = 2: the TTFT tail jumps once
    # more adapters are in use than there are slots
    def p99(name):
        r = online.load_server_capture(name)["record"]
        return online.percentile([t.ttft_s for t in online.request_timings(r["arrivals"], r["sent"], r["chunks"])], 99)
    assert p99("sweep-3") > 2 * p99("sweep-2")
