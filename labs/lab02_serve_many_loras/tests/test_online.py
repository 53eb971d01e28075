"""Public tests, TODO 8-11 (part 2, online.py): timings from a replay's raw events, rows over
HTTP, step costs from a step log, and measured against predicted. No server is needed: the
inputs are what the course's tools record."""
import pytest

from lab02_serve_many_loras import online


@pytest.mark.points(2)
def test_timings_count_from_the_scheduled_arrival():
    # request 0: sent on time; request 1: the client was 0.25 s late, and its first chunk was empty
    got = online.request_timings([0.0, 1.0], [0.0, 1.25],
                                 [[(0.5, 1), (0.75, 2), (1.0, 0)], [(1.5, 0), (2.0, 1), (3.0, 3)]])
    assert got == [online.RequestTiming(0.5, 0.75, 0.0, 3), online.RequestTiming(1.0, 2.0, 0.25, 4)]


@pytest.mark.points(1)
def test_a_request_without_tokens_is_named():
    with pytest.raises(ValueError, match="request 1"):
        online.request_timings([0.0, 0.5], [0.0, 0.5], [[(0.25, 1)], [(1.0, 0)]])
    with pytest.raises(ValueError):
        online.request_timings([0.0], [0.0, 0.1], [[(0.25, 1)]])


@pytest.mark.points(2)
def test_base_rows_that_got_the_last_slots_adapter():
    prompts = ["p", "p", "p", "q", "q", "q"]
    models = ["tiny", "shout", "count", "tiny", "shout", "count"]
    alone = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 1, 1], [2, 2, 2], [3, 3, 3]]
    together = [[7, 8, 9], [4, 5, 6], [7, 8, 9], [1, 1, 1], [2, 2, 2], [3, 3, 3]]
    assert online.explain_rows(prompts, models, together, alone) == [online.WrongRow(0, 0, ("count",))]


@pytest.mark.points(2)
def test_a_difference_in_the_last_token_counts_and_may_look_like_nobody():
    prompts, models = ["p", "p"], ["tiny", "shout"]
    alone = [[1, 2, 3, 4], [5, 6, 7, 8]]
    together = [[1, 2, 3, 9], [5, 6, 7, 8]]
    assert online.explain_rows(prompts, models, together, alone) == [online.WrongRow(0, 3, ())]


@pytest.mark.points(3)
def test_step_costs_recovered_exactly_from_a_clean_log():
    # durations made from known costs: the fit must give them back (and r2 = 1)
    costs = (0.01, 0.001, 0.004, 0.002, 0.03)
    rows = [(8, [1], 1, 1), (1, [1], 0, 0), (2, [1, 2], 1, 0), (16, [], 0, 0), (3, [2, 3], 2, 1),
            (5, [1, 2], 0, 0), (4, [3], 1, 1), (1, [], 0, 0)]
    steps = [{"dur_s": costs[0] + costs[1] * t + costs[2] * len(a) + costs[3] * (s - d) + costs[4] * d,
              "tokens": t, "adapters": a, "slot_loads": s, "disk_loads": d} for t, a, s, d in rows]
    fit = online.fit_step_costs(steps)
    assert fit.costs() == pytest.approx(dict(zip(online.COST_FIELDS, costs)), abs=1e-9)
    assert fit.r2 == pytest.approx(1.0)


@pytest.mark.points(2)
def test_no_cost_is_negative():
    # more adapters made these steps FASTER (noise, or another job stopping): least squares would
    # say an adapter has a negative cost; the fit must say 0 instead, and refit the rest
    steps = [{"dur_s": d, "tokens": t, "adapters": list(range(1, a + 1)), "slot_loads": 0, "disk_loads": 0}
             for d, t, a in [(0.02, 1, 0), (0.03, 2, 0), (0.018, 1, 2), (0.026, 2, 3), (0.04, 3, 0), (0.05, 4, 1)]]
    fit = online.fit_step_costs(steps)
    assert fit.per_adapter_s == 0.0 and min(fit.costs().values()) >= 0.0
    # with the adapter cost at 0, base and per-token costs are refitted on their own (least squares
    # on those two columns): clipping the unconstrained fit's -0.0012 s would leave 0.0097 / 0.0103
    assert (fit.base_step_s, fit.per_token_s) == pytest.approx((0.0080488, 0.0104390), abs=1e-7)


@pytest.mark.points(2)
def test_compare_is_a_ratio_of_percentiles():
    measured = {"ttft_s": [1.0, 2.0, 3.0, 4.0, 100.0]}
    predicted = {"ttft_s": [100.0, 4.0, 3.0, 2.0, 1.0]}      # the same values, other requests
    got = online.compare(measured, predicted, qs=(50, 100))
    assert got == {"ttft_s": {50: 1.0, 100: 1.0}}
    with pytest.raises(ValueError, match="e2e_s"):
        online.compare({"e2e_s": [1.0]}, {"ttft_s": [1.0]})
