"""Send a lab 04 trace to the OpenAI-compatible server at its arrival times; record what came back.

    python labs/lab02_serve_many_loras/tools/replay.py --trace build/traces/lab04_zipf.jsonl \
        --url http://127.0.0.1:PORT --out /tmp/replay.json [--models 0=tiny 1=shout 2=count 3=define]

Each request of the trace (lab 04's format: arrival_s, adapter, rank, prompt_tokens, output_tokens)
becomes one streamed completion, sent at its arrival time on the replay's clock: a prompt of
exactly ``prompt_tokens`` token ids, ``max_tokens = output_tokens`` with ``ignore_eos`` (so it
generates exactly that many), greedy, to the served model its adapter id maps to. Requests are
sent concurrently, as users would; none waits for another. What is recorded is raw, for part 2's
``online.request_timings`` to read: each request's scheduled arrival and actual send time,
seconds from the replay's start, and each chunk's arrival time and token ids. Nothing is
computed here that a student's function computes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Mapping, Sequence

from engine_run import PROMPTS          # lab 02's four prompts (tools/ is on sys.path: a folder of scripts)

DEFAULT_MODELS = {0: "tiny", 1: "shout", 2: "count", 3: "define"}
ROW_TOKENS = 16
FIRST_TOKEN_ID = 16          # prompt ids stay clear of the tokenizer's special tokens


def prompt_ids(k: int, n: int, vocab: int = 2048) -> list[int]:
    """A fixed prompt of n token ids for request k (different per request: no shared prefixes)."""
    span = vocab - FIRST_TOKEN_ID
    return [FIRST_TOKEN_ID + (k * 7919 + j * 31) % span for j in range(n)]


def read_trace(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    for k, r in enumerate(rows):
        missing = {"arrival_s", "adapter", "prompt_tokens", "output_tokens"} - set(r)
        if missing:
            raise ValueError(f"{path}: line {k + 1} has no {', '.join(sorted(missing))}")
    return rows


def chunk_tokens(choice) -> list[int]:
    """The token ids vLLM returns in a completion choice (``return_token_ids``), [] where none."""
    extra = getattr(choice, "model_extra", None) or {}
    ids = getattr(choice, "token_ids", None)
    if ids is None:
        ids = extra.get("token_ids")
    return list(ids or [])


async def replay(trace: Sequence[Mapping], base_url: str, models: Mapping[int, str] = DEFAULT_MODELS,
                 *, timeout_s: float = 600.0) -> dict:
    """Replay ``trace`` against the server at ``base_url`` (".../v1"); returns the raw record."""
    import openai

    unknown = sorted({int(r["adapter"]) for r in trace} - set(models))
    if unknown:
        raise ValueError(f"adapter ids {unknown} have no served model name (pass --models ID=NAME)")
    n = len(trace)
    record = {"arrivals": [float(r["arrival_s"]) for r in trace], "sent": [None] * n, "chunks": [[] for _ in range(n)],
              "tokens": [[] for _ in range(n)], "errors": {}, "models": [models[int(r["adapter"])] for r in trace]}
    async with openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=timeout_s) as client:
        t0 = time.monotonic()

        async def one(k: int, r: Mapping) -> None:
            await asyncio.sleep(max(0.0, t0 + float(r["arrival_s"]) - time.monotonic()))
            record["sent"][k] = time.monotonic() - t0
            try:
                stream = await client.completions.create(
                    model=record["models"][k], prompt=prompt_ids(k, int(r["prompt_tokens"])),
                    max_tokens=int(r["output_tokens"]), temperature=0.0, stream=True,
                    extra_body={"ignore_eos": True, "return_token_ids": True})
                async for chunk in stream:
                    now = time.monotonic() - t0
                    ids = [t for c in chunk.choices for t in chunk_tokens(c)]
                    record["chunks"][k].append((now, len(ids)))
                    record["tokens"][k] += ids
            except Exception as e:          # noqa: BLE001 - one failed request is recorded, not fatal
                record["errors"][k] = f"{type(e).__name__}: {e}"[:300]

        await asyncio.gather(*(one(k, r) for k, r in enumerate(trace)))
    return record


def rows(models: Sequence[str] = tuple(DEFAULT_MODELS.values())) -> list[tuple[str, str]]:
    """(prompt, model) for every prompt with every model: the 16 rows of invariant 5 over HTTP."""
    return [(p, m) for p in PROMPTS for m in models]


def together_and_alone(base_url: str, rows_: Sequence[tuple[str, str]], max_tokens: int = ROW_TOKENS
                       ) -> tuple[list[list[int]], list[list[int]]]:
    """Every row sent at once (so one engine step can hold them all), then every row alone; the
    generated token ids of each, greedy with ``ignore_eos``. What part 2's ``explain_rows`` reads."""
    import openai

    async def one(client, prompt, model):
        r = await client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0.0,
                                            extra_body={"ignore_eos": True, "return_token_ids": True})
        ids = chunk_tokens(r.choices[0])
        if not ids:
            raise RuntimeError("the server returned no token ids (is return_token_ids supported?)")
        return ids

    async def go():
        async with openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=120) as client:
            together = await asyncio.gather(*(one(client, p, m) for p, m in rows_))
            alone = [await one(client, p, m) for p, m in rows_]
            return list(together), alone
    return asyncio.run(go())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", type=Path, required=True)
    ap.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000 (tools/server.py prints it)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--models", nargs="*", default=[], help="ID=NAME: the served model of an adapter id")
    args = ap.parse_args(argv)
    models = dict(DEFAULT_MODELS)
    for pair in args.models:
        key, _, name = pair.partition("=")
        if not key.isdigit() or not name:
            ap.error(f"--models takes ID=NAME, got {pair!r}")
        models[int(key)] = name
    url = args.url.rstrip("/")
    record = asyncio.run(replay(read_trace(args.trace), url if url.endswith("/v1") else url + "/v1", models))
    args.out.write_text(json.dumps(record))
    print(f"{len(record['arrivals'])} requests replayed, {len(record['errors'])} failed -> {args.out}")
    return 1 if record["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
