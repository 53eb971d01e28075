"""Turn lab runs into the score table students read and the JSON tools read."""
from __future__ import annotations

import re
from pathlib import Path

from grader.labs import ROOT
from grader.grading.results import LabRun, stub_todos


def lab_summary(run: LabRun, public_counted: bool = True) -> dict:
    pub = [r for r in run.results if r.item.kind == "public"]
    hid = [r for r in run.results if r.item.kind == "hidden"]
    score = sum(r.item.points for r in run.results if r.passed and (public_counted or r.item.kind != "public"))
    return {
        "score": score,
        "max_score": sum(r.item.points for r in run.results),
        "public": {"passed": sum(r.passed for r in pub), "total": len(pub), "counted": public_counted},
        "hidden": {"passed": sum(r.passed for r in hid), "total": len(hid), "available": bool(hid)},
        "seconds": round(run.seconds, 2),
        "next_todo": _first_todo(run),
        "notes": run.notes,
        "tests": [
            {"name": r.item.name, "kind": r.item.kind, "points": r.item.points, "passed": r.passed,
             "reason": r.reason, **({"detail": r.detail} if r.item.kind == "public" and r.detail else {}),
             **({"hint": r.item.hint} if r.item.kind == "hidden" else {})}
            for r in run.results
        ],
    }


def _first_todo(run: LabRun) -> str:
    """The lowest-numbered TODO among the functions where failing tests failed (the last one each
    called, or the stub it stopped at): where the student should go next, whether that TODO is
    still a stub or is written but wrong."""
    by_name = {}
    for msg in stub_todos(run.lab):
        m = re.match(r".*? TODO (\d+): (\w+)", msg)
        if m:
            by_name[m.group(2)] = (int(m.group(1)), msg)
    found = []
    for r in run.results:
        if r.passed:
            continue
        if r.todo:
            m = re.search(r"TODO (\d+)", r.todo)
            found.append((int(m.group(1)) if m else 10**6, r.todo))
        found += [by_name[c] for c in r.called if c in by_name]
    return min(found)[1] if found else ""


def _common_reason(failed: list[dict]) -> str:
    """The one reason every failing test shares, when there are several and it is not a plain failure."""
    reasons = {t["reason"] for t in failed}
    if len(failed) >= 3 and len(reasons) == 1:
        reason = reasons.pop()
        if not reason.startswith("failed"):
            return reason
    return ""


def table(impl: Path, summaries: dict[str, dict], verbose: bool = False) -> str:
    shown = impl.relative_to(ROOT) if impl.is_relative_to(ROOT) else impl
    lines = [f"Phase 11 — grading {shown}/", ""]
    w = max([len(n) for n in summaries] + [len("lab")])
    # the two test columns count tests; the last one counts points
    lines.append(f"{'lab':<{w}}  {'public tests':>12}  {'hidden tests':>12}  {'points':>9}")
    lines.append("-" * (w + 41))
    tot = mx = 0
    any_hidden = False
    for name, s in summaries.items():
        pub = f"{s['public']['passed']}/{s['public']['total']}"
        hid = f"{s['hidden']['passed']}/{s['hidden']['total']}" if s["hidden"]["available"] else "—"
        any_hidden |= s["hidden"]["available"]
        lines.append(f"{name:<{w}}  {pub:>12}  {hid:>12}  {s['score']:>4}/{s['max_score']:<4}")
        tot += s["score"]
        mx += s["max_score"]
    lines.append("-" * (w + 41))
    lines.append(f"{'total':<{w}}  {'':>12}  {'':>12}  {tot:>4}/{mx:<4}")
    for name, s in summaries.items():
        lines += _details(name, s, verbose)
    if not any_hidden:
        lines += ["", "Hidden tests are not part of this copy: the scores above count public tests only.",
                  "Where every public test passes, that is all it says — the hidden tests may still fail."]
    return "\n".join(lines)


def _details(name: str, s: dict, verbose: bool) -> list[str]:
    out = []
    failed = [t for t in s["tests"] if not t["passed"]]
    for note in s["notes"]:
        out.append(f"  ! {note}")
    if not failed:
        if s["hidden"]["available"]:
            out.append("  all public and hidden tests passed")
        else:
            out.append("  all public tests passed (hidden tests not run here)")
    elif s["next_todo"] and all("TODO" in t["reason"] or "NotImplementedError" in t["reason"]
                                or t["passed"] for t in s["tests"]):
        out.append(f"  next: {s['next_todo']}")
    else:
        if s["next_todo"]:
            out.append(f"  next: {s['next_todo']}")
        pub = [t for t in failed if t["kind"] == "public"]
        hid = [t for t in failed if t["kind"] == "hidden"]
        if not pub and s["public"]["total"]:
            out.append("  all public tests passed; hidden tests failed:")
        shown_details: set[str] = set()
        common = _common_reason(pub + hid)
        if common:                       # one cause for every failure (a module that cannot load, say)
            pts = sum(t["points"] for t in pub + hid)
            out.append(f"  ✗ all {len(pub + hid)} failing tests ({pts} pt): {common}")
            first = next((t for t in pub if t.get("detail")), None)
            if first and verbose:
                out += ["      " + ln for ln in first["detail"].splitlines()[-25:]]
        for t in ([] if common else (pub + hid)[: None if verbose else 12]):
            out.append(f"  ✗ [{t['kind']}] {t['name']} ({t['points']} pt): {t['reason']}")
            if verbose and t.get("detail"):
                if t["detail"] in shown_details:
                    out.append("      (the same report as above)")
                else:
                    shown_details.add(t["detail"])
                    out += ["      " + ln for ln in t["detail"].splitlines()[-40:]]
        if not common and not verbose and len(failed) > 12:
            out.append(f"  … {len(failed) - 12} more (use --verbose)")
        if pub and not verbose:
            out.append(f"  full feedback for public tests: python -m grader --lab {name} --verbose")
    return [f"\n{name}"] + out if out else []
