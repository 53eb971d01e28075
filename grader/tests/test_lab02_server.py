"""Lab 02 through vLLM's real OpenAI-compatible server: the course's launcher and step-log plugin.

One live session per fix setting (each start is 16-67 s on 2 cores): 16 rows sent at once over
HTTP with the real ``openai`` client against each row alone, runtime loading and unloading, the
per-step log, and a stop that leaves no process of the server's group behind. Bad input is
refused before anything starts, and a start that fails leaves nothing either. Needs
`make lab02-setup lab02-model` (``make test`` does both).
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys

import pytest

from grader.judge import reference
from grader.labs import ROOT, get

TOOLS = ROOT / "labs" / "lab02_serve_many_loras" / "tools"
sys.path.insert(0, str(TOOLS))
import replay  # noqa: E402  (tools/ is a folder of scripts, not a package)
import server as S  # noqa: E402

pytest.importorskip("vllm", reason="the lab02 engine is installed by `make lab02-setup`")
pytest.importorskip("openai", reason="installed with the lab02 engine")
if not (S.MODEL / "base" / "config.json").is_file():
    pytest.skip("no tiny model: run `make lab02-model`", allow_module_level=True)

MAX_TOKENS = 12


def rows(adapters=S.ADAPTERS) -> list[tuple[str, str]]:
    """(prompt, model name) for every prompt with the base model and each adapter: 16 rows."""
    return replay.rows((S.SERVED_NAME, *adapters))


def run_rows(url: str, rows_: list[tuple[str, str]]) -> tuple[list[list[int]], list[list[int]]]:
    return replay.together_and_alone(url + "/v1", rows_, MAX_TOKENS)


def wrong_rows(url: str, rows_, rounds: int = 3) -> list[int]:
    """Rows whose batched tokens differ from their alone tokens; over HTTP the batch depends on
    arrival timing, so up to ``rounds`` tries for one where the base rows shared a step."""
    for _ in range(rounds):
        together, alone = run_rows(url, rows_)
        wrong = [i for i, (a, b) in enumerate(zip(together, alone)) if a != b]
        if wrong:
            return wrong
    return []


def test_bad_input_is_named_before_anything_starts(tmp_path):
    adapters = S.default_adapters()
    cases = [
        (dict(adapters={"shout": S.Path("model/adapters/shout")}), "give an absolute path"),
        (dict(adapters={"gone": tmp_path / "nowhere"}), "no adapter_config.json"),
        (dict(max_lora_rank=S.adapter_rank(adapters["shout"]) - 1), "above --max-lora-rank"),
        (dict(model=tmp_path / "no-model"), "make lab02-model"),
        (dict(max_loras=0), "max_loras must be an int >= 1"),
        (dict(adapters={"a=b": adapters["shout"]}), "adapter name"),
    ]
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        cases.append((dict(port=held.getsockname()[1]), "is in use"))
        for kwargs, words in cases:
            srv = S.Server(**kwargs)
            with pytest.raises(S.ServerError, match=words):
                srv.start()
            assert srv.proc is None, kwargs


def test_a_start_that_fails_says_why_and_leaves_nothing():
    srv = S.Server(extra_args=("--max-model-len", "999999"), start_timeout_s=240)
    with pytest.raises(S.ServerError, match="exited with code") as e:
        srv.start()
    assert "its log ends" in str(e.value) and len(str(e.value).splitlines()) > 2
    assert srv.survivors == [] and not S.group_members(srv.pgid)
    assert not srv._dir.exists()


def test_live_session_without_the_fix(tmp_path):
    """Invariant 5 over HTTP, runtime loading, the step log, and a clean stop."""
    step_log = tmp_path / "steps.jsonl"
    # a host cache as small as the device: three adapters keep leaving it, so steps read from disk
    srv = S.Server(max_loras=2, max_cpu_loras=2, fix=False, step_log=step_log)
    with srv:
        rows_ = rows()
        wrong = wrong_rows(srv.url, rows_)
        # without the fix, with every slot holding an adapter: only base rows go wrong (index -1
        # reads the last slot), and some do
        assert wrong, "no row differed in 3 rounds: were the base rows ever in a step with 2 adapters?"
        assert all(rows_[i][1] == S.SERVED_NAME for i in wrong), [rows_[i] for i in wrong]

        # runtime loading: a new name for a known adapter serves the same tokens as the original
        srv.load_adapter("shout2", S.default_adapters()["shout"])
        with pytest.raises(S.ServerError, match="HTTP 400"):
            srv.load_adapter("shout2", S.default_adapters()["shout"])
        _, alone = run_rows(srv.url, [(replay.PROMPTS[0], "shout"), (replay.PROMPTS[0], "shout2")])
        assert alone[0] == alone[1]
        srv.unload_adapter("shout2")
        import openai
        with pytest.raises(openai.NotFoundError):
            run_rows(srv.url, [(replay.PROMPTS[0], "shout2")])

        # a short lab 04 trace replayed at its arrival times: every request gets exactly its tokens
        workloads = reference.load(get("lab04"), "workloads")
        if workloads is not None:
            trace = [t._asdict() for t in workloads.make_trace(24, 8.0, kind="uniform", n_adapters=3,
                                                                 base_share=0.25, rank_mix=(8,), prompt=(4, 24),
                                                                 output=(2, 6), seed=1)]
            record = asyncio.run(replay.replay(trace, srv.url + "/v1"))
            assert record["errors"] == {}
            assert [len(t) for t in record["tokens"]] == [r["output_tokens"] for r in trace]
            timings = reference.load(get("lab02"), "online").request_timings(
                record["arrivals"], record["sent"], record["chunks"])
            assert all(0 <= t.late_s and 0 < t.ttft_s <= t.e2e_s for t in timings)

        steps = [json.loads(line) for line in step_log.read_text().splitlines()]
        assert steps, "the step-log plugin wrote nothing"
        keys = {"t", "dur_s", "cpu_s", "tokens", "new_tokens", "requests", "new", "adapters", "slot_loads",
                "disk_loads"}
        assert all(set(s) == keys for s in steps)
        assert all(s["tokens"] > 0 and s["dur_s"] > 0 and len(s["adapters"]) <= 2 for s in steps)
        assert max(len(s["adapters"]) for s in steps) == 2                  # both slots used in one step
        assert sum(s["slot_loads"] for s in steps) >= 3 and sum(s["disk_loads"] for s in steps) >= 1
        pgid = srv.pgid
    assert srv.survivors == [] and not S.group_members(pgid), "a server process outlived stop()"


def test_live_session_with_the_fix_every_row_is_right_then_the_server_dies():
    with S.Server(max_loras=2, max_cpu_loras=4, fix=True) as srv:
        rows_ = rows()
        together, alone = run_rows(srv.url, rows_)
        assert together == alone
        assert "phase11-cpu-lora-fix: patched" in srv.log.read_text()
        pgid = srv.pgid
        # the server dies mid-run (killed, as the OOM killer would): every later use fails at once
        # with a message that says so, and nothing is left running
        os.killpg(pgid, signal.SIGKILL)
        srv.proc.wait(timeout=30)
        assert not srv.alive()
        with pytest.raises(S.ServerError, match="no longer running"):
            srv.load_adapter("late", S.default_adapters()["shout"])
        trace = [{"arrival_s": 0.0, "adapter": 1, "rank": 8, "prompt_tokens": 4, "output_tokens": 2}] * 3
        record = asyncio.run(replay.replay(trace, srv.url + "/v1", timeout_s=30))
        assert len(record["errors"]) == 3 and all("Connection" in e for e in record["errors"].values())
    assert srv.survivors == [] and not S.group_members(pgid)
