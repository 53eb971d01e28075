"""Hidden tests, TODO 8-11: the part 2 measurement logic against plain references written here,
on random inputs, plus the edges the public tests leave out."""
import itertools
import random

import numpy as np
import pytest

from lab02_serve_many_loras import online


def random_replay(rng, n):
    arrivals = sorted(rng.uniform(0, 10) for _ in range(n))
    sent = [a + rng.choice([0.0, 0.0, rng.uniform(0, 0.5)]) for a in arrivals]
    chunks = []
    for s in sent:
        t, cs = s, []
        for k in range(rng.randint(1, 6)):
            t += rng.uniform(0.001, 0.3)
            cs.append((t, 0 if (k == 0 and rng.random() < 0.4) else rng.randint(1, 8)))
        if all(n == 0 for _, n in cs):
            cs.append((t + 0.01, 1))
        if rng.random() < 0.5:
            cs.append((cs[-1][0] + 0.01, 0))             # the stream's closing chunk
        chunks.append(cs)
    return arrivals, sent, chunks


@pytest.mark.points(3)
@pytest.mark.hint("every latency counts from the trace's arrival, the first token is the first chunk with a token, "
                  "the last token the last chunk with one")
def test_hidden_timings_random_replays():
    rng = random.Random(8)
    for _ in range(40):
        arrivals, sent, chunks = random_replay(rng, rng.randint(1, 12))
        got = online.request_timings(arrivals, sent, chunks)
        for a, s, cs, g in zip(arrivals, sent, chunks, got):
            carrying = [t for t, n in cs if n > 0]
            want = (carrying[0] - a, carrying[-1] - a, s - a, sum(n for _, n in cs))
            assert tuple(g) == pytest.approx(want)


@pytest.mark.points(1)
@pytest.mark.hint("chunks arrive in time order, and each is a (time, tokens) pair")
def test_hidden_timings_bad_input():
    with pytest.raises(ValueError):
        online.request_timings([0.0], [0.0], [[(1.0, 1), (0.5, 1)]])
    with pytest.raises(ValueError):
        online.request_timings([0.0], [0.0], [[(1.0, -1)]])
    with pytest.raises(ValueError):
        online.request_timings([float("nan")], [0.0], [[(1.0, 1)]])


def ref_explain(prompts, models, together, alone):
    out = []
    for i, (t, a) in enumerate(zip(together, alone)):
        if list(t) == list(a):
            continue
        pos = next((k for k, (x, y) in enumerate(zip(t, a)) if x != y), min(len(t), len(a)))
        like = sorted({models[j] for j in range(len(models)) if prompts[j] == prompts[i]
                       and models[j] != models[i] and list(alone[j]) == list(t)})
        out.append((i, pos, tuple(like)))
    return out


@pytest.mark.points(3)
@pytest.mark.hint("compare whole outputs (a late difference counts), and look for the lookalike among the "
                  "same prompt's rows only")
def test_hidden_explain_random_batches():
    rng = random.Random(9)
    names = ["tiny", "shout", "count", "define"]
    for _ in range(60):
        prompts = [p for p in "abc"[:rng.randint(1, 3)] for _ in names]
        models = names * (len(prompts) // len(names))
        outputs = {(p, m): [rng.randint(0, 5) for _ in range(4)] for p in set(prompts) for m in names}
        # the same alone output under two prompts: a lookalike must come from the row's own prompt
        if len(set(prompts)) > 1:
            outputs[("b", "count")] = list(outputs[("a", "shout")])
        alone = [list(outputs[(p, m)]) for p, m in zip(prompts, models)]
        together = []
        for p, m in zip(prompts, models):
            roll = rng.random()
            if roll < 0.25:
                together.append(list(outputs[(p, rng.choice(names))]))      # got someone's adapter
            elif roll < 0.4:
                out = list(outputs[(p, m)])
                out[-1] = 9                                                   # only the last token differs
                together.append(out)
            else:
                together.append(list(outputs[(p, m)]))
        got = online.explain_rows(prompts, models, together, alone)
        assert [tuple(w) for w in got] == ref_explain(prompts, models, together, alone)


def nnls_brute(X, y):
    best, err = np.zeros(X.shape[1]), float(np.sum(y ** 2))
    for r in range(1, X.shape[1] + 1):
        for cols in itertools.combinations(range(X.shape[1]), r):
            sol = np.linalg.lstsq(X[:, cols], y, rcond=None)[0]
            if (sol >= 0).all():
                c = np.zeros(X.shape[1])
                c[list(cols)] = sol
                e = float(np.sum((X @ c - y) ** 2))
                if e < err:
                    best, err = c, e
    return best, err


@pytest.mark.points(3)
@pytest.mark.hint("the smallest squared error among fits with every cost >= 0; clipping a plain fit's "
                  "negative costs is not that fit")
def test_hidden_fit_matches_non_negative_least_squares():
    rng = np.random.default_rng(10)
    for trial in range(25):
        S = int(rng.integers(6, 40))
        steps = []
        for _ in range(S):
            disk = int(rng.integers(0, 2))
            slot = disk + int(rng.integers(0, 3))
            adapters = list(rng.choice(8, size=int(rng.integers(0, 4)), replace=False) + 1)
            cost = [0.01, 0.0005, 0.003, 0.002, 0.02] * rng.uniform(0, 2, 5) * (rng.random(5) > 0.3)
            dur = cost @ [1, 0, 0, 0, 0] + float(rng.normal(0, 0.004))
            tokens = int(rng.integers(1, 64))
            dur = max(1e-4, dur + cost[1] * tokens + cost[2] * len(adapters) + cost[3] * (slot - disk) + cost[4] * disk)
            steps.append({"dur_s": float(dur), "tokens": tokens, "adapters": [int(a) for a in adapters],
                          "slot_loads": slot, "disk_loads": disk, "cpu_s": 0.0})
        fit = online.fit_step_costs(steps)
        X, y = online.step_rows(steps)
        want, err = nnls_brute(X, y)
        got = np.array(list(fit.costs().values()))
        assert (got >= 0).all()
        assert float(np.sum((X @ got - y) ** 2)) == pytest.approx(err, rel=1e-6, abs=1e-12), f"trial {trial}"
        total = float(np.sum((y - y.mean()) ** 2))
        assert fit.r2 == pytest.approx(1 - err / total, rel=1e-6, abs=1e-9)


@pytest.mark.points(1)
@pytest.mark.hint("five costs need at least five steps; a step's record must have every field")
def test_hidden_fit_bad_input():
    step = {"dur_s": 0.01, "tokens": 1, "adapters": [], "slot_loads": 0, "disk_loads": 0}
    with pytest.raises(ValueError):
        online.fit_step_costs([step] * 4)
    with pytest.raises(ValueError, match="tokens"):
        online.fit_step_costs([step] * 5 + [{"dur_s": 0.01, "adapters": [], "slot_loads": 0, "disk_loads": 0}])


@pytest.mark.points(2)
@pytest.mark.hint("measured over predicted, percentile by percentile, each over its own whole list")
def test_hidden_compare_random():
    rng = random.Random(11)
    for _ in range(30):
        n = rng.randint(1, 50)
        m = {"ttft_s": [rng.uniform(0.01, 3) for _ in range(n)], "e2e_s": [rng.uniform(0.1, 9) for _ in range(n)]}
        p = {k: [rng.uniform(0.01, 3) for _ in range(n)] for k in m}
        qs = (50, 90, 99)
        got = online.compare(m, p, qs)
        assert set(got) == set(m)
        for k in m:
            for q in qs:
                assert got[k][q] == pytest.approx(np.percentile(m[k], q) / np.percentile(p[k], q))


@pytest.mark.points(1)
@pytest.mark.hint("a ratio needs a predicted percentile above zero, and both sides the same requests")
def test_hidden_compare_bad_input():
    with pytest.raises(ValueError):
        online.compare({"ttft_s": [1.0, 2.0]}, {"ttft_s": [1.0]})
    with pytest.raises(ValueError):
        online.compare({"ttft_s": [1.0]}, {"ttft_s": [0.0]})
    with pytest.raises(ValueError):
        online.compare({"ttft_s": []}, {"ttft_s": []})
