"""Every relative link between the course's pages, labs and notebooks resolves.

Checked: every ``*.md`` file in the repository (outside .venv/, dist/, build/) and the Markdown
cells of the notebooks in notebooks/. A link resolves when its file (or folder) exists and, when
it names an ``#anchor`` inside a Markdown page, that page has the heading (GitHub's slug) or an
``<a id="...">``. External links (http:, https:, mailto:) are not fetched. Links inside code are
not links.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest

from grader.checks import doccheck
from grader.labs import LABS, ROOT

PAGES = doccheck.all_markdown()
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _notebook_markdown(nb: Path) -> str:
    cells = json.loads(nb.read_text()).get("cells", [])
    return "\n\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                       for c in cells if c.get("cell_type") == "markdown")


def _text(source: Path) -> str:
    return _notebook_markdown(source) if source.suffix == ".ipynb" else source.read_text()


def broken_links(source: Path, text: str | None = None) -> list[str]:
    """'file:line: target (why)' for each relative link of ``source`` (or of ``text``, read as if
    it were at ``source``) that does not resolve."""
    bad = []
    for line, target in doccheck.links(_text(source) if text is None else text):
        if doccheck.is_external(target):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (source.parent / unquote(path_part)).resolve() if path_part else source
        where = f"{doccheck.rel(source)}:{line}: {target}"
        try:
            dest.relative_to(ROOT)
        except ValueError:
            bad.append(f"{where} (points outside the repository)")
            continue
        if not dest.exists():
            bad.append(f"{where} (no such file)")
            continue
        if anchor and dest.suffix in (".md", ".ipynb"):
            if anchor not in doccheck.anchors(_text(dest)):
                bad.append(f"{where} (no heading with anchor #{anchor} in {doccheck.rel(dest)})")
    return bad


@pytest.mark.parametrize("source", PAGES + NOTEBOOKS, ids=lambda p: doccheck.rel(p))
def test_relative_links_resolve(source):
    bad = broken_links(source)
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_guide_links_every_lab_page_and_notebook_and_back():
    """A reader can go from the guide (and the lab index) to each lab's page and notebook, and
    from each lab page back into the chapter."""
    guide = ROOT / "phase11" / "README.md"
    index = ROOT / "labs" / "README.md"
    for page in (guide, index):
        targets = {(page.parent / t.partition("#")[0]).resolve()
                   for _, t in doccheck.links(page.read_text()) if not doccheck.is_external(t)}
        for lab in LABS:
            assert lab.page.resolve() in targets, f"{doccheck.rel(page)} does not link {doccheck.rel(lab.page)}"
            assert lab.notebook.resolve() in targets, \
                f"{doccheck.rel(page)} does not link {doccheck.rel(lab.notebook)}"
    for lab in LABS:
        if lab.page.exists():
            back = {(lab.page.parent / t.partition("#")[0]).resolve()
                    for _, t in doccheck.links(lab.page.read_text()) if not doccheck.is_external(t)}
            chapter = {p.resolve() for p in (ROOT / "phase11").glob("*.md")} | {index.resolve()}
            assert back & chapter, (f"{doccheck.rel(lab.page)} links back to no chapter page "
                                    f"(phase11/*.md) and not to labs/README.md")


def test_link_checker_catches_breakage():
    """The checker itself: slugs, duplicate headings, links in code, a missing file and anchor."""
    text = doccheck.anchors("# Top\n## The scheduler's bound\n## Top\n```\n# not a heading\n```\n")
    assert text == {"top", "the-schedulers-bound", "top-1"}
    assert doccheck.github_slug("3. Slots, `max_loras` and LRU") == "3-slots-max_loras-and-lru"
    found = doccheck.links("see [a](x.md#y) and `[b](not-a-link.md)`\n```\n[c](code.md)\n```\n"
                           "[d]: ref.md\n")
    assert found == [(1, "x.md#y"), (5, "ref.md")]
    probe = ROOT / "phase11" / "_probe_links.md"       # never written: its text is passed in
    bad = broken_links(probe, "[ok](README.md#5-the-five-invariants)\n[gone](NOPE.md)\n"
                              "[bad anchor](README.md#no-such-heading)\n[web](https://example.org/x.md)\n")
    assert len(bad) == 2 and "NOPE.md (no such file)" in bad[0] and "#no-such-heading" in bad[1]
