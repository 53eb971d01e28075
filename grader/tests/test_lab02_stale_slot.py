"""A freed slot is not zeroed in vLLM 0.32.0: with the last slot freed, base rows still get the
adapter that was in it. Checked on the committed capture (captured/stale/) and once live.

Slot -1 (no adapter) reads the LAST slot of the stacked buffers; ``_deactivate_adapter`` only
clears the slot's entry in ``lora_index_to_id``. So "leave a slot free" protects base rows only
while the last slot has never held an adapter.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.labs import ROOT

LAB = ROOT / "labs" / "lab02_serve_many_loras"
CAPTURE = LAB / "captured" / "stale" / "cpu-max-loras-2.json"
sys.path.insert(0, str(LAB / "tools"))
import capture as C  # noqa: E402


def check(c: dict) -> None:
    before, after, during = c["slots_before"], c["slots_after_remove"], c["slots_during_batch2"]
    assert None not in before["index_to_id"] and before["index_to_id"][-1] == c["removed_id"]
    assert after["index_to_id"][-1] is None and during["index_to_id"][-1] is None, "the last slot is free"
    # ... but its weights are where they were
    assert after["slot_weight_norms"][-1] == before["slot_weight_norms"][-1] > 0
    for (prompt, adapter), got in zip(c["rows2"], c["batch2"]):
        if adapter is None:          # a base row in a batch with one busy slot: it gets the removed adapter
            assert got != c["alone"][f"{prompt}|None"] and got == c["alone"][f"{prompt}|{c['removed']}"], prompt
        else:
            assert got == c["alone"][f"{prompt}|{adapter}"], (prompt, adapter)


def test_the_committed_capture_shows_a_freed_last_slot_still_aliasing():
    c = json.loads(CAPTURE.read_text())
    assert c["provenance"]["payload_sha256"] == C.payload_sha256(c), "edited after it was recorded"
    check(c)


def test_live_the_freed_last_slot_still_aliases(tmp_path):
    pytest.importorskip("vllm", reason="the lab02 engine is installed by `make lab02-setup`")
    out = tmp_path / "stale.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(LAB / "tools" / "stale_slot.py"), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    check(json.loads(out.read_text()))
