"""Reading the course's Markdown for the documentation checks (grader/tests/test_links.py,
test_vllm_refs.py, test_chapter_numbers.py).

Nothing here imports vLLM or a lab: it only parses text. The conventions it enforces:

* a vLLM line reference is written exactly as
  ``\u0060vllm/v1/core/sched/scheduler.py:941-950\u0060 (\u0060Scheduler.schedule\u0060)``
  (path:start[-end] in backticks, one space, the dotted name in backticks inside parentheses);
* a fenced code block whose info string is ``python runnable`` is executed by the tests;
* links are GitHub-flavoured: ``[text](relative/path.md#anchor)``, anchors are GitHub's heading slugs
  (or an explicit ``<a id="...">``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from grader.labs import ROOT

SKIP_DIRS = {".git", ".venv", "dist", "build", ".grade", "node_modules", ".ipynb_checkpoints",
             "__pycache__", ".pytest_cache"}


# --------------------------------------------------------------------------------------------
# Which pages
# --------------------------------------------------------------------------------------------

def all_markdown(root: Path = ROOT) -> list[Path]:
    """Every *.md file of the repository (not the virtual environment, builds or releases)."""
    out = []
    for p in sorted(root.rglob("*.md")):
        rel = p.relative_to(root).parts
        if any(part in SKIP_DIRS for part in rel[:-1]):
            continue
        out.append(p)
    return out


def chapter_pages(root: Path = ROOT) -> list[Path]:
    """The pages whose every number is recomputed: phase11/*.md and the lab index."""
    pages = sorted((root / "phase11").glob("*.md"))
    index = root / "labs" / "README.md"
    return pages + ([index] if index.exists() else [])


def reference_pages(root: Path = ROOT) -> list[Path]:
    """The pages whose vLLM line references are checked against the installed engine."""
    pages = sorted((root / "phase11").glob("*.md")) + sorted((root / "labs").glob("**/README.md"))
    instructors = root / "grader" / "INSTRUCTORS.md"
    if instructors.exists():
        pages.append(instructors)
    return [p for p in pages if not any(part in SKIP_DIRS for part in p.relative_to(root).parts)]


def rel(path: Path, root: Path = ROOT) -> str:
    return str(path.relative_to(root))


# --------------------------------------------------------------------------------------------
# Fenced code blocks
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    info: str          # the info string after the opening fence, e.g. "python runnable"
    code: str
    line: int          # 1-based line of the opening fence

    @property
    def runnable(self) -> bool:
        return self.info.split()[:2] == ["python", "runnable"]


_FENCE = re.compile(r"^(\s*)(```+|~~~+)(.*)$")


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m.group(2), m.group(3).strip(), i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        out.append(Block(info, "\n".join(body) + "\n", start + 1))
        i += 1
    return out


def prose_lines(text: str, keep_blocks=lambda b: True) -> list[tuple[int, str]]:
    """(line number, line) for every line outside fenced blocks, plus the lines of the blocks
    for which ``keep_blocks(block)`` is true (fence lines themselves are dropped)."""
    lines = text.splitlines()
    hidden: set[int] = set()
    for b in blocks(text):
        n = b.code.count("\n")
        fence_lines = {b.line, b.line + n + 1}
        hidden |= fence_lines
        if not keep_blocks(b):
            hidden |= set(range(b.line + 1, b.line + n + 1))
    return [(k, ln) for k, ln in enumerate(lines, 1) if k not in hidden]


# --------------------------------------------------------------------------------------------
# vLLM references
# --------------------------------------------------------------------------------------------

# `vllm/path/to/file.py:12-34` (`Class.method`)
VLLM_REF = re.compile(r"`(vllm/[\w/]+\.py):(\d+)(?:-(\d+))?` \(`([A-Za-z_][\w.]*)`\)")
# anything that looks like a line reference into vllm/, well-formed or not
VLLM_LINE_MENTION = re.compile(r"(?<![\w/.-])vllm/[\w/]+\.py:\d+")
# any path into the vllm package
VLLM_PATH_MENTION = re.compile(r"(?<![\w/.-])(vllm/[\w/]+\.py)")


@dataclass(frozen=True)
class VllmRef:
    page: Path
    line: int          # line in the page
    path: str          # e.g. vllm/lora/request.py
    start: int
    end: int
    name: str          # e.g. LoRARequest.__post_init__

    def __str__(self) -> str:
        span = f"{self.start}-{self.end}" if self.end != self.start else f"{self.start}"
        return f"{rel(self.page)}:{self.line}: `{self.path}:{span}` (`{self.name}`)"


def vllm_refs(page: Path) -> list[VllmRef]:
    out = []
    for k, line in enumerate(page.read_text().splitlines(), 1):
        for m in VLLM_REF.finditer(line):
            start = int(m.group(2))
            end = int(m.group(3) or start)
            out.append(VllmRef(page, k, m.group(1), start, end, m.group(4)))
    return out


def malformed_vllm_refs(page: Path) -> list[str]:
    """Lines that mention ``vllm/...py:N`` outside the one accepted syntax."""
    bad = []
    for k, line in enumerate(page.read_text().splitlines(), 1):
        good_spans = [m.span() for m in VLLM_REF.finditer(line)]
        for m in VLLM_LINE_MENTION.finditer(line):
            if not any(s <= m.start() and m.end() <= e for s, e in good_spans):
                bad.append(f"{rel(page)}:{k}: {line.strip()}")
    return bad


def vllm_paths(page: Path) -> list[tuple[int, str]]:
    """(line, path) for every ``vllm/...py`` path the page mentions (with or without a line)."""
    return [(k, m.group(1)) for k, line in enumerate(page.read_text().splitlines(), 1)
            for m in VLLM_PATH_MENTION.finditer(line)]


# --------------------------------------------------------------------------------------------
# Links and anchors
# --------------------------------------------------------------------------------------------

# [text](target) and ![alt](target); the target stops at whitespace or ')'; an optional "title".
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(\S+)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def links(text: str) -> list[tuple[int, str]]:
    """(line, target) for every inline link or reference definition outside code blocks.
    Inline code spans are ignored too."""
    out = []
    for k, line in prose_lines(text, keep_blocks=lambda b: False):
        line = re.sub(r"`[^`]*`", "", line)
        out += [(k, m.group(1)) for m in _LINK.finditer(line)]
        m = _REFDEF.match(line)
        if m:
            out.append((k, m.group(1)))
    return out


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)) or target.startswith("//")


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed,
    spaces to hyphens (``## 3. The scheduler's bound`` -> ``3-the-schedulers-bound``)."""
    s = re.sub(r"`([^`]*)`", r"\1", heading)
    s = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", s)           # links -> their text
    s = re.sub(r"<[^>]+>", "", s)                              # inline html
    s = s.replace("*", "").replace("~", "")
    s = s.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)                             # keeps letters, digits, _, -, space
    return s.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown page defines (headings with GitHub's -1, -2 suffixes, <a id>)."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in prose_lines(text, keep_blocks=lambda b: False):
        m = _HEADING.match(line)
        if m:
            slug = github_slug(m.group(2))
            n = seen.get(slug, 0)
            out.add(slug if n == 0 else f"{slug}-{n}")
            seen[slug] = n + 1
        out |= set(_HTML_ANCHOR.findall(line))
    return out


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

UNITS = r"MiB|GiB|KiB|TiB|GB|MB|kB|KB|TB|B|%|ms|GPUs?|engines?|M"
# A number that says something: with a thousands separator, with decimals, with a unit, a ratio
# written 128× (no space) or "4 times", or a "2048/r".
NUMBER = re.compile(
    r"(?<![\w.,/=:-])"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:(?P<times>×|\s+times\b)|(?P<perr>/r\b)|(?P<unit>\s?(?:" + UNITS + r"))(?![\w]))?"
)
# A range of digits whose unit is written once, at the end: "8–64 MiB", "1 to 3 GiB". The low end
# would otherwise be a bare integer and escape the check.
_DIGIT_RANGE = re.compile(
    r"(?<![\w.,/=:-])(?P<lo>\d+(?:\.\d+)?)\s*(?:–|-|to)\s*"
    r"(?P<hi>\d+(?:\.\d+)?)(?P<suffix>×|\s+times\b|\s?(?:" + UNITS + r")(?![\w]))"
)

# Numbers written in words. A bare count in words ("one base product", "two slots") is structure,
# like a bare integer; a word number is checked when it says how big something is:
# * it carries a magnitude ("two hundred", "a few thousand", "tens of", "a dozen");
# * it is followed by "times", "×", "percent" or a unit ("eight times", "a few percent");
# * it is a multiple or a fraction ("twice", "half", "halve", "a third", "an order of magnitude").
# A range in words is one token ("one to two hundred times"), so a claim must cover both ends.
_SMALL = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
          "fifteen|sixteen|seventeen|eighteen|nineteen")
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_MAG = r"(?:hundred|thousand|million|billion|trillion|dozen)s?"
_VAGUE = r"a\s+few|a\s+couple\s+of|several|tens|dozens|hundreds|thousands|millions|billions"
_CARDINAL = rf"(?:(?:{_TENS})(?:[\s-]+(?:{_SMALL}))?|{_SMALL}|{_VAGUE}|an|a)"
_WORD_NUMBER = rf"{_CARDINAL}(?:[\s-]+{_MAG})*(?:\s+of)?"
_WORD_SUFFIX = r"\s+times\b|\s?×|\s+percent\b|\s+per\s+cent\b|\s+(?:" + UNITS + r")(?![\w])"
_FRACTION = (r"(?:half|halves|halve[sd]?|halving|twice|thrice|double[sd]?|doubling|triple[sd]?|"
             r"tripling|quadruple[sd]?|(?:a|an|one|two|three|four|five|six|seven|eight|nine)[\s-]+"
             r"(?:third|quarter|fifth|sixth|seventh|eighth|ninth|tenth)s?|"
             r"(?:an|one|two|three|a\s+few|several)\s+orders?\s+of\s+magnitude|\w+-fold)")
WORD_NUMBER = re.compile(
    rf"(?<![\w-])(?:(?P<fraction>{_FRACTION})(?![\w-])"
    rf"|(?P<range>(?:{_WORD_NUMBER}|\d+(?:\.\d+)?)\s+(?:to|or)\s+)?"
    rf"(?P<words>{_WORD_NUMBER})(?P<suffix>{_WORD_SUFFIX})?(?![\w-]))",
    re.I,
)
_MAG_RE = re.compile(rf"\b{_MAG}\b|\b(?:tens|dozens|hundreds|thousands|millions|billions)\b", re.I)
_VERSION = re.compile(r"\d+\.\d+\.\d+(?:\.\d+)*")
_URL = re.compile(r"https?://\S+|arXiv:\S+|\]\([^)]*\)")


def _blank(m: re.Match) -> str:
    """The match replaced by as many spaces (offsets stay put), newlines kept."""
    return re.sub(r"[^\n]", " ", m.group(0))


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip()).lower()


def number_matches(text: str) -> list[tuple[int, str]]:
    """(offset, token) for every number worth checking in ``text`` (one line or a whole
    paragraph: a word number may run over a line break), in order. See ``number_tokens``."""
    text = VLLM_REF.sub(_blank, text)
    text = _URL.sub(_blank, text)
    text = _VERSION.sub(_blank, text)
    out = []
    for m in _DIGIT_RANGE.finditer(text):
        suffix = m.group("suffix")
        suffix = "×" if suffix.strip() in ("×", "times") else " " + suffix.strip()
        out.append((m.start(), f"{m.group('lo')}–{m.group('hi')}{suffix}"))
    text = _DIGIT_RANGE.sub(_blank, text)
    for m in WORD_NUMBER.finditer(text):
        if m.group("fraction"):
            out.append((m.start(), _norm(m.group("fraction"))))
            continue
        words, suffix, lo = m.group("words"), m.group("suffix"), m.group("range")
        if _MAG_RE.search(words) or (suffix and (lo or _norm(words) not in ("a", "an", "one"))):
            out.append((m.start(), _norm(m.group(0))))
        # else: a count in words ("two slots", "several adapters", "one GPU each", "a GiB"):
        # structure, like a bare integer
    text = WORD_NUMBER.sub(lambda m: _blank(m) if (m.group("fraction") or m.group("suffix")
                                                   or _MAG_RE.search(m.group("words") or ""))
                           else m.group(0), text)
    for m in NUMBER.finditer(text):
        num = m.group("num")
        if m.group("times"):
            out.append((m.start(), num + "×"))
        elif m.group("perr"):
            out.append((m.start(), num + "/r"))
        elif m.group("unit"):
            out.append((m.start(), num + " " + m.group("unit").strip()))
        elif "," in num or "." in num:
            out.append((m.start(), num))
    return sorted(out)


def number_tokens(line: str) -> list[str]:
    """The numbers worth checking in a line (or paragraph) of prose, normalised: ``"32 MiB"``,
    ``"402×"`` (also for "402 times"), ``"6,738,415,616"``, ``"0.78%"``, ``"2048/r"``, a digit range
    with one unit ``"8–64 MiB"``, and numbers in words, lower case: ``"two hundred times"``,
    ``"one to two hundred times"``, ``"a few thousand"``, ``"tens of"``, ``"twice"``, ``"half"``,
    ``"a third"``. Versions, URLs, link targets and vLLM line references are ignored; so are bare
    integers and bare counts in words (shapes, counts, years, line numbers, "two slots")."""
    return [tok for _, tok in number_matches(line)]


def page_numbers(page: Path) -> list[tuple[int, str, str]]:
    """(line, token, the line) for every checked number on a page; runnable blocks are skipped
    (they are executed, and assert their own numbers). The scan runs paragraph by paragraph, so
    a number in words broken over two lines ("two\\nhundred times") is still one token; the line
    reported is the one it starts on."""
    text = page.read_text()
    lines = prose_lines(text, keep_blocks=lambda b: not b.runnable)
    out = []
    run: list[tuple[int, str]] = []

    def flush():
        if not run:
            return
        para = "\n".join(ln for _, ln in run)
        for off, tok in number_matches(para):
            k = para.count("\n", 0, off)
            out.append((run[k][0], tok, run[k][1]))
        run.clear()

    for k, line in lines:
        if not line.strip() or (run and run[-1][0] != k - 1):
            flush()
        if line.strip():
            run.append((k, line))
    flush()
    return out
