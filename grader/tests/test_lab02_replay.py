"""tools/replay.py against a local stub of the OpenAI completions stream (no engine needed).

The stub records every request it gets and how many were in flight at once, and streams a token
per chunk then a closing chunk without one, like vLLM's server does. The client must send token
ids, ``ignore_eos``, ``max_tokens = output_tokens``, to the model the adapter id maps to, all
requests concurrently, each no earlier than its arrival; and what it records must be what part
2's ``request_timings`` reads.
"""
from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from grader.judge import reference
from grader.labs import ROOT, get

pytest.importorskip("openai", reason="installed with the lab02 engine (`make lab02-setup`)")
sys.path.insert(0, str(ROOT / "labs" / "lab02_serve_many_loras" / "tools"))
import replay as R  # noqa: E402  (tools/ is a folder of scripts)

HOLD_S = 0.3            # each stub response takes at least this long: overlapping arrivals overlap


class Stub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.bodies, self.lock, self.in_flight, self.max_in_flight = [], threading.Lock(), 0, 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"          # the body ends when the connection closes: simplest stream

    def log_message(self, *args):
        pass

    def do_POST(self):
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with srv.lock:
            srv.bodies.append(body)
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            time.sleep(HOLD_S)
            for i in range(body["max_tokens"]):
                self._event({"token_ids": [100 + i], "text": "x", "finish_reason": None})
            self._event({"token_ids": None, "text": "", "finish_reason": "length"})
            self.wfile.write(b"data: [DONE]\n\n")
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _event(self, choice: dict) -> None:
        doc = {"id": "cmpl-stub", "object": "text_completion", "created": 0, "model": "stub",
               "choices": [{"index": 0, "logprobs": None, **choice}]}
        self.wfile.write(b"data: " + json.dumps(doc).encode() + b"\n\n")
        self.wfile.flush()


@pytest.fixture
def stub():
    srv = Stub()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


TRACE = [{"arrival_s": 0.02 * k, "adapter": a, "rank": 8 if a else 0, "prompt_tokens": 3 + k, "output_tokens": 4}
         for k, a in enumerate([0, 1, 2, 3, 1, 0])]


def test_the_client_sends_what_the_trace_says_concurrently(stub):
    url = f"http://127.0.0.1:{stub.server_address[1]}/v1"
    record = asyncio.run(R.replay(TRACE, url))
    assert record["errors"] == {}
    bodies = sorted(stub.bodies, key=lambda b: len(b["prompt"]))       # prompt lengths are 3, 4, ... by request
    for k, (r, b) in enumerate(zip(TRACE, bodies)):
        assert b["prompt"] == R.prompt_ids(k, r["prompt_tokens"]) and all(type(t) is int for t in b["prompt"])
        assert (b["model"], b["max_tokens"], b["ignore_eos"], b["stream"], b["temperature"]) == \
            (R.DEFAULT_MODELS[r["adapter"]], r["output_tokens"], True, True, 0.0)
        assert record["tokens"][k] == [100, 101, 102, 103]
    # six requests 20 ms apart, each held 300 ms: a client that waited for one before the next
    # would never have two in flight
    assert stub.max_in_flight >= 2
    assert all(s >= a for s, a in zip(record["sent"], record["arrivals"]))


def test_the_record_is_what_part_2_reads(stub):
    online = reference.load(get("lab02"), "online")
    if online is None:
        pytest.skip("no solutions/ in this copy")
    record = asyncio.run(R.replay(TRACE, f"http://127.0.0.1:{stub.server_address[1]}/v1"))
    timings = online.request_timings(record["arrivals"], record["sent"], record["chunks"])
    assert [t.tokens for t in timings] == [4] * len(TRACE)
    assert all(c[-1][1] == 0 for c in record["chunks"])                 # the closing chunk carries no token
    assert all(0 <= t.late_s and t.ttft_s <= t.e2e_s for t in timings)


def test_an_adapter_without_a_name_is_refused_before_sending(stub):
    with pytest.raises(ValueError, match=r"adapter ids \[7\]"):
        asyncio.run(R.replay([{**TRACE[0], "adapter": 7}], f"http://127.0.0.1:{stub.server_address[1]}/v1"))
    assert stub.bodies == []
