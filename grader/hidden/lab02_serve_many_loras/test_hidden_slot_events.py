"""Hidden tests, TODO 6-7."""
import re

import pytest

from grader.labs import ROOT
from lab02_serve_many_loras import serve

CAPTURED = ROOT / "labs" / "lab02_serve_many_loras" / "captured"


def _count(log, text):
    return sum(text in line for line in log.splitlines())


@pytest.mark.points(2)
@pytest.mark.hint("evictions are part of the lifecycle too, and so are the trace lines")
def test_hidden_parse_counts_every_kind():
    log = serve.load_capture("cpu-bug-max-loras-2", CAPTURED)["log"]
    got = serve.parse_lora_events(log)
    kinds = [e.kind for e in got]
    assert kinds.count("remove") == _count(log, "Removing adapter int id:") > 0
    assert kinds.count("add") == _count(log, "Adding lora. Model id:") > 0
    assert kinds.count("use") == _count(log, "phase11-trace: using LoRA int id:") > 0
    assert [e.line for e in got] == sorted(e.line for e in got)


@pytest.mark.points(2)
@pytest.mark.hint("the slot is the second number on an activation line; the id is the first")
def test_hidden_parse_ids_and_slots_from_the_multiprocess_log():
    log = serve.load_capture("cpu-fixed-max-loras-2", CAPTURED)["log"]
    lines = log.splitlines()
    got = [e for e in serve.parse_lora_events(log) if e.kind == "activate"]
    assert got, "the fixed run activates adapters too"
    for e in got:
        m = re.search(r"int id: (\d+), slot index: (\d+)", lines[e.line])
        assert (e.lora_id, e.slot) == (int(m.group(1)), int(m.group(2)))


@pytest.mark.points(1)
@pytest.mark.hint("a log is text; say so when it is not")
def test_hidden_parse_rejects_non_text():
    with pytest.raises(ValueError):
        serve.parse_lora_events(b"Activating LoRA. int id: 1, slot index: 0")
    assert serve.parse_lora_events("") == []


@pytest.mark.points(2)
@pytest.mark.hint("with fewer or more slots than the engine had, the model should disagree somewhere")
def test_hidden_replay_with_the_wrong_slot_count_disagrees():
    events = serve.parse_lora_events(serve.load_capture("cpu-bug-max-loras-2", CAPTURED)["log"])
    assert serve.replay_through_cache(events, 2).agree
    assert not serve.replay_through_cache(events, 3).agree
    with pytest.raises(ValueError):
        serve.replay_through_cache(events, 1)      # the log names slot 1


@pytest.mark.points(2)
@pytest.mark.hint("without the trace lines the log shows misses only; LRU needs every access")
def test_hidden_replay_activations_only():
    events = serve.parse_lora_events(serve.load_capture("cpu-bug-max-loras-2", CAPTURED)["log"])
    misses = [e for e in events if e.kind != "use"]
    report = serve.replay_through_cache(misses, 2)
    assert report.mode == "activations"
    assert len(report.steps) == sum(e.kind == "activate" for e in misses)
    assert all(s.engine_kind in ("load", "evict+load") for s in report.steps)
    # the victims the engine names are the "remove" lines just before each activation
    for s in report.steps:
        before = [e for e in misses if e.line < s.line]
        prev = before[-1] if before else None
        expect = prev.lora_id if prev is not None and prev.kind == "remove" else None
        assert s.engine_evicted == expect
    assert not report.agree, "hits are invisible here, so lab04's LRU picks another victim somewhere"


@pytest.mark.points(2)
@pytest.mark.hint("a hit happens where the adapter was activated before; a miss says which id it evicted")
def test_hidden_replay_small_trace():
    log = "\n".join([
        "phase11-trace: using LoRA int id: 5",
        "Adding lora. Model id: 5, int id: 5",
        "Activating LoRA. int id: 5, slot index: 0",
        "phase11-trace: using LoRA int id: 6",
        "Activating LoRA. int id: 6, slot index: 1",
        "phase11-trace: using LoRA int id: 5",
        "phase11-trace: using LoRA int id: 7",
        "Removing adapter int id: 6",
        "Activating LoRA. int id: 7, slot index: 1",
    ])
    report = serve.replay_through_cache(serve.parse_lora_events(log), 2)
    assert [(s.lora_id, s.engine_kind, s.engine_slot, s.engine_evicted) for s in report.steps] == [
        (5, "load", 0, None), (6, "load", 1, None), (5, "hit", 0, None), (7, "evict+load", 1, 6)]
    assert report.agree
    bad = log.replace("Removing adapter int id: 6", "Removing adapter int id: 5").replace(
        "int id: 7, slot index: 1", "int id: 7, slot index: 0")
    assert not serve.replay_through_cache(serve.parse_lora_events(bad), 2).agree


@pytest.mark.points(1)
@pytest.mark.hint("a victim belongs to the one activation right after it, not to the ones after that")
def test_hidden_replay_activations_small():
    log = "\n".join([
        "Activating LoRA. int id: 1, slot index: 0",
        "Removing adapter int id: 1",
        "Activating LoRA. int id: 2, slot index: 0",
        "Activating LoRA. int id: 3, slot index: 1",
    ])
    report = serve.replay_through_cache(serve.parse_lora_events(log), 2)
    assert report.mode == "activations"
    assert [(s.lora_id, s.engine_kind, s.engine_slot, s.engine_evicted) for s in report.steps] == [
        (1, "load", 0, None), (2, "evict+load", 0, 1), (3, "load", 1, None)]
