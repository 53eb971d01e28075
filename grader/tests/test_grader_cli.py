"""`python -m grader` on the real labs: full marks for the references, zero for the stubs."""
from __future__ import annotations

from grader.grading import catalog
from grader.labs import LABS, ROOT, present

from conftest import run_grader


def quickest():
    """The lab that grades fastest (lab 03, ~1 s), for checks that any one lab will do."""
    return next((lab for lab in present() if lab.short == "lab03"), present()[0])


def test_every_lab_exists_with_its_contract_files():
    for lab in LABS:
        for path in (*lab.stub_paths(ROOT / "labs"), *lab.stub_paths(ROOT / "solutions"), lab.page,
                     lab.notebook, lab.public_tests, lab.hidden_tests):
            assert path.exists(), f"{lab.name}: missing {path.relative_to(ROOT)}"
        items = catalog.discover(lab)
        assert any(i.kind == "public" for i in items) and any(i.kind == "hidden" for i in items)


def test_labs_graded_on_threads_parse_their_tests_one_at_a_time(monkeypatch):
    """`make grade` grades two labs at once on threads; CPython 3.11's ast.parse is not thread-safe
    (a SystemError in the suite, once). The catalog parses one file at a time, whatever the threads."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    real, inside, most, lock = catalog.ast.parse, [0], [0], threading.Lock()

    def slow_parse(*a, **k):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.005)                   # long enough for another thread to walk in
        try:
            return real(*a, **k)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(catalog.ast, "parse", slow_parse)
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(catalog.discover, LABS * 2))
    assert most[0] == 1, f"{most[0]} parses ran at once"
    assert all(found) and found[:len(LABS)] == found[len(LABS):]


def test_references_get_full_marks(solutions_report):
    proc, report = solutions_report
    assert set(report["labs"]) == {lab.name for lab in present()}
    for name, lab in report["labs"].items():
        failed = [(t["name"], t["reason"]) for t in lab["tests"] if not t["passed"]]
        assert lab["score"] == lab["max_score"] > 0, f"{name}: {failed}"
    assert report["total"]["score"] == report["total"]["max_score"]
    assert "all public and hidden tests passed" in proc.stdout


def test_untouched_stubs_score_zero_and_point_at_the_first_todo(stubs_report):
    proc, report = stubs_report
    for name, lab in report["labs"].items():
        assert lab["score"] == 0, name
        assert lab["max_score"] > 0
        assert lab["next_todo"].startswith(f"{name} TODO "), lab["next_todo"]
        assert f"next: {name} TODO" in proc.stdout
    # the table: one row per lab and a total
    for name in report["labs"]:
        assert any(line.startswith(name) for line in proc.stdout.splitlines())
    assert any(line.startswith("total") for line in proc.stdout.splitlines())


def test_points_in_json_match_the_catalog(solutions_report):
    _, report = solutions_report
    for lab in present():
        items = {i.name: i.points for i in catalog.discover(lab)}
        got = {t["name"]: t["points"] for t in report["labs"][lab.name]["tests"]}
        assert got == items
        assert report["labs"][lab.name]["max_score"] == sum(items.values())


def test_strict_exits_1_below_full_marks():
    first = quickest()
    assert run_grader("--impl", "labs", "--lab", first.short, "--strict").returncode == 1
    assert run_grader("--impl", "solutions", "--lab", first.short, "--strict").returncode == 0


def test_cannot_grade_gives_exit_2_and_a_clear_message(tmp_path):
    proc = run_grader("--lab", "lab99")
    assert proc.returncode == 2 and "unknown lab 'lab99'" in proc.stderr
    proc = run_grader("--impl", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_an_empty_implementation_dir_is_graded_as_zero_not_a_crash(tmp_path):
    first = quickest()
    proc = run_grader("--impl", str(tmp_path), "--lab", first.short)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to grade there" in proc.stdout


def test_grading_writes_nothing_into_labs(tmp_path):
    before = sorted(str(p) for p in (ROOT / "labs").rglob("*"))
    run_grader("--impl", "labs", "--lab", quickest().short)
    assert sorted(str(p) for p in (ROOT / "labs").rglob("*")) == before


def test_lab02_grades_without_the_engine_installed(tmp_path):
    """Students without vLLM are graded on the captured runs: block vllm/transformers/peft imports."""
    shim = tmp_path / "shim"
    for mod in ("vllm", "transformers", "peft"):
        (shim / mod).mkdir(parents=True)
        (shim / mod / "__init__.py").write_text(f"raise ImportError('{mod} is not installed (test shim)')\n")
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "g.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "grader", "--impl", "solutions", "--lab", "lab02",
                           "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lab = json.loads(out.read_text())["labs"]["lab02_serve_many_loras"]
    assert lab["score"] == lab["max_score"], [t for t in lab["tests"] if not t["passed"]]


def test_hidden_hints_are_short_and_every_test_is_worth_points():
    for lab in LABS:
        for item in catalog.discover(lab):
            assert item.points >= 1
            if item.kind == "hidden":
                assert 10 <= len(item.hint) <= 160, f"{item.name}: hint should be one short sentence"
                assert "assert" not in item.hint and "==" not in item.hint
