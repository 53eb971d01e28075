"""Public tests, TODO 6-7: read the adapter lifecycle from the debug log and replay it."""
import pytest

from grader.labs import ROOT
from lab02_serve_many_loras import serve

CAPTURED = ROOT / "labs" / "lab02_serve_many_loras" / "captured"

SNIPPET = """\
(EngineCore pid=7) DEBUG 11-23 20:08:56 [lora/model_manager.py:1383] Adding lora. Model id: 2, int id: 2
(EngineCore pid=7) DEBUG 11-23 20:08:56 [lora/model_manager.py:366] Activating LoRA. int id: 2, slot index: 0
(EngineCore pid=7) DEBUG 11-23 20:08:56 [lora/model_manager.py:395] Successfully loaded LoRA weights for module lm_head.
(EngineCore pid=7) DEBUG 11-23 20:08:57 [lora/model_manager.py:68] Removing adapter int id: 2
some unrelated line about int id: 9
(EngineCore pid=7) DEBUG 11-23 20:08:57 [lora/model_manager.py:366] Activating LoRA. int id: 3, slot index: 0
"""


@pytest.mark.points(2)
def test_parse_a_small_log():
    got = serve.parse_lora_events(SNIPPET)
    assert [(e.kind, e.lora_id, e.slot, e.line) for e in got] == [
        ("add", 2, None, 0), ("activate", 2, 0, 1), ("remove", 2, None, 3), ("activate", 3, 0, 5)]


@pytest.mark.points(2)
def test_parse_the_captured_log_finds_every_activation():
    log = serve.load_capture("cpu-bug-max-loras-2", CAPTURED)["log"]
    got = serve.parse_lora_events(log)
    acts = [e for e in got if e.kind == "activate"]
    assert len(acts) == log.count("Activating LoRA. int id:")
    assert all(e.slot in (0, 1) for e in acts), "max_loras=2: slots 0 and 1"


@pytest.mark.points(3)
def test_replay_the_buggy_run_agrees_with_lab04():
    cap = serve.load_capture("cpu-bug-max-loras-2", CAPTURED)
    report = serve.replay_through_cache(serve.parse_lora_events(cap["log"]), num_slots=2)
    assert report.mode == "trace"
    assert len(report.steps) == cap["log"].count("phase11-trace: using LoRA int id:")
    assert report.agree, f"first disagreement: {report.disagreements[:1]}"
    kinds = {s.engine_kind for s in report.steps}
    assert kinds == {"hit", "load", "evict+load"}, "this run has hits, first loads and evictions"
