"""Every number the chapter states is recomputed from the labs' reference code, or cited.

How it works:

* ``CLAIMS`` maps each number-bearing phrase of the chapter (exactly as a page writes it) to the
  function call of the REFERENCE implementation (solutions/) that produces it. The test formats
  the computed value and requires it to equal the phrase, and requires the phrase to appear on
  the page(s) named. Change the code and not the text (or the reverse): a test fails.
* A scan (``doccheck.number_tokens``) finds every number worth checking on the pages —
  thousands separators, decimals, units (MiB, GB, %, GPUs, engines, params ...), ratios such as
  ``402×``, ``4 times`` and ``2048/r``, ranges with one unit (``8–64 MiB``), and numbers in words
  that say how big something is (``two hundred times``, ``one to two hundred times``, ``tens of``,
  ``a few thousand``, ``twice``, ``half``, ``a third``, ``an order of magnitude``) — and requires each
  to be covered by a claim, by a number quoted from a cited paper (``QUOTED``: the paragraph must
  cite it), or by the short ``STRUCTURAL`` list of phrases (the paragraph must contain the phrase).
  A popular figure the chapter refutes ("thousands of times smaller") is a claim too: its compute
  checks that the figure IS wrong.
* Fenced blocks marked ``python runnable`` are executed, page by page, as one script each, with
  the reference implementations first on ``sys.path`` (they assert their own numbers).
* A few facts about the engine (allowed ranks, defaults) are read from the installed vLLM's source;
  without vLLM those claims are skipped, saying why.

Pages: phase11/*.md and labs/README.md.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pytest

from grader.checks import doccheck
from grader.labs import ROOT

SOLUTIONS = ROOT / "solutions"
PAGES = doccheck.chapter_pages()
GUIDE, DEEP, MINI = "phase11/README.md", "phase11/01-deep-dive.md", "phase11/02-mini-build.md"
EX, INTERVIEW, CHEAT, INDEX = ("phase11/EXERCISES.md", "phase11/INTERVIEW.md", "phase11/CHEATSHEET.md",
                               "labs/README.md")


# --------------------------------------------------------------------------------------------
# The reference implementations, loaded by path under private names: whatever another test has
# imported as ``lab03_lora_economics`` (a student's stub, say), these are the solutions.
# --------------------------------------------------------------------------------------------

def _load(lab: str, module: str):
    path = SOLUTIONS / lab / f"{module}.py"
    if not path.exists():
        pytest.skip(f"the reference {path.relative_to(ROOT)} is not in this copy (student release?)")
    if str(SOLUTIONS) not in sys.path:
        sys.path.insert(0, str(SOLUTIONS))          # the reference first, as the brief asks
    spec = importlib.util.spec_from_file_location(f"_chapter_ref_{lab}_{module}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod                    # dataclasses look their module up here
    spec.loader.exec_module(mod)
    return mod


@lru_cache(maxsize=None)
def econ():
    return _load("lab03_lora_economics", "economics")


QKVO = ["q_proj", "k_proj", "v_proj", "o_proj"]


def shape(name: str):
    e = econ()
    return e.model_shape_from_config(e.load_config(name))


def L2():
    return shape("llama-2-7b")


def L3():
    return shape("llama-3-8b")


def MIX():
    return shape("mixtral-8x7b")


def exact(n_bytes: int, unit: str) -> str:
    """Bytes in a binary unit, only if exact: '32 MiB' (a claim of an exact size must be exact)."""
    size = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]
    q = Fraction(n_bytes, size)
    assert q.denominator in (1, 2, 4), f"{n_bytes} B is not a round number of {unit}"
    return f"{float(q):g} {unit}"


def approx(x: float, digits: int = 0, unit: str = "×") -> str:
    return f"≈{round(x, digits) if digits else round(x)}{unit}"


# --------------------------------------------------------------------------------------------
# The claims: phrase on the page(s) -> how the reference computes it
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    text: str                       # exactly as the page writes it
    compute: Callable[[], str]      # formats the reference's value the same way
    pages: tuple[str, ...]          # every page named must contain the text
    source: str = "lab"             # "lab" (solutions/) or "vllm" (installed engine's source)


def C(text, compute, *pages, source="lab"):
    return Claim(text, compute, pages, source)


def _base(s=None):
    return econ().base_bytes(s or L2())


def _ad(s=None, rank=16, targets=QKVO):
    return econ().adapter_bytes(s or L2(), rank, targets)


def _embed_head_slots(s, max_loras, max_lora_rank, bytes_per_param=2):
    """Bytes of the slots vLLM's default targets add for the token embedding and the LM head:
    each is ``max_loras x max_lora_rank x (vocab + hidden)`` elements (A: rank x vocab, B:
    hidden x rank, and the transpose for the head). Lab 03's page gives this formula; it is checked
    against a real engine's buffers in ``test_embedding_and_head_slots_match_the_engine``."""
    return 2 * max_loras * max_lora_rank * (s.vocab_size + s.hidden_size) * bytes_per_param


def _default_slots(s, max_loras, max_lora_rank, bytes_per_param=2):
    """What vLLM 0.32.0 reserves with ``target_modules=None`` on a Llama-family model: every
    linear layer (lab 03's "all-linear") plus the embedding and the LM head."""
    return (econ().slot_bytes(s, max_loras, max_lora_rank, "all-linear", bytes_per_param)
            + _embed_head_slots(s, max_loras, max_lora_rank, bytes_per_param))


def _magnitude(x: float) -> str:
    """A number's decade in words, as a page would say it: "tens", "hundreds", "thousands"."""
    for word, low, high in (("units", 1, 10), ("tens", 10, 100), ("hundreds", 100, 1000),
                            ("thousands", 1000, 10**6)):
        if low <= x < high:
            return word
    return "?"


def _sq(rank):
    """W over A+B for one 4096 x 4096 layer."""
    return econ().layer_size_ratio(4096, 4096, rank)


def _vllm_source(rel: str) -> str:
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("vLLM is not installed here (make lab02-setup); engine facts cannot be read")
    return (Path(list(spec.submodule_search_locations)[0]) / rel).read_text()


def _vllm_ranks() -> str:
    m = re.search(r"MaxLoRARanks = Literal\[([\d, ]+)\]", _vllm_source("config/lora.py"))
    return m.group(1)


def _vllm_default(field: str) -> str:
    src = _vllm_source("config/lora.py")
    m = re.search(rf"^    {field}: [^=\n]+= (?:Field\(default=)?(\w+)", src, re.M)
    return m.group(1)


def _vllm_scale() -> str:
    """The scale the LoRA linear layers pass to the punica wrapper (scaling is already in B)."""
    m = re.search(r"self\.lora_a_stacked, self\.lora_b_stacked, ([\d.]+), self\.output_slices",
                  _vllm_source("lora/layers/base_linear.py"))
    return m.group(1)


e_ = econ  # short alias inside lambdas

CLAIMS = [
    # --- Llama-2-7B, the canonical example --------------------------------------------------
    C("6,738,415,616", lambda: f"{e_().base_params(L2()):,}", GUIDE, EX, INTERVIEW, CHEAT),
    C("12.55 GiB (13.48 GB)", lambda: f"{_base() / 2**30:.2f} GiB ({_base() / 1e9:.2f} GB)",
      GUIDE, EX, INTERVIEW, CHEAT),
    C("`16 · (4096 + 4096) · 4 · 32` = 16,777,216",
      lambda: f"`16 · (4096 + 4096) · 4 · 32` = {e_().adapter_params(L2(), 16, QKVO):,}", GUIDE, INTERVIEW),
    C("16,777,216 params = 33,554,432 B = 32 MiB",
      lambda: f"{e_().adapter_params(L2(), 16, QKVO):,} params = {_ad():,} B = {exact(_ad(), 'MiB')}", CHEAT),
    C("33,554,432 B = exactly 32 MiB", lambda: f"{_ad():,} B = exactly {exact(_ad(), 'MiB')}", GUIDE),
    C("is 33,554,432 B", lambda: f"is {_ad():,} B", EX),
    C("= exactly 32 MiB; `33,554,432 / 10⁶` = 33.55 MB",
      lambda: f"= exactly {exact(_ad(), 'MiB')}; `{_ad():,} / 10⁶` = {_ad() / 1e6:.2f} MB", EX),
    C("exactly 32 MiB. Ratio: ≈402×",
      lambda: f"exactly {exact(_ad(), 'MiB')}. Ratio: {approx(e_().shrink_ratio(L2(), 16, QKVO))}", INTERVIEW),
    C("≈402×", lambda: approx(e_().shrink_ratio(L2(), 16, QKVO)), GUIDE, EX, INTERVIEW, CHEAT, INDEX),
    C("≈430×", lambda: f"≈{round(e_().slipped_shrink_ratio(L2(), 16, QKVO), -1):.0f}×",
      GUIDE, EX, INTERVIEW, CHEAT, INDEX),
    C("≈431×", lambda: approx(e_().slipped_shrink_ratio(L2(), 16, QKVO)), GUIDE, EX, INTERVIEW, CHEAT),
    C("`13.48 · 1024 / 32`", lambda: f"`{_base() / 1e9:.2f} · 1024 / {_ad() / 2**20:g}`", GUIDE, EX),
    C("differ by 7.4 %", lambda: f"differ by {(2**30 / 1e9 - 1) * 100:.1f} %", GUIDE),
    C("the GiB is 7.4 % larger", lambda: f"the GiB is {(2**30 / 1e9 - 1) * 100:.1f} % larger", EX),
    C("a 7.4 % unit slip", lambda: f"a {(2**30 / 1e9 - 1) * 100:.1f} % unit slip", INTERVIEW),
    C("B, 7.4 % apart", lambda: f"B, {(2**30 / 1e9 - 1) * 100:.1f} % apart", CHEAT),
    # --- one square layer ---------------------------------------------------------------------
    C("2048/r", lambda: f"{e_().layer_size_ratio(4096, 4096, 1):.0f}/r", GUIDE, EX, INTERVIEW, CHEAT),
    C("128×", lambda: f"{e_().layer_size_ratio(4096, 4096, 16):g}×", GUIDE, EX, INTERVIEW, CHEAT),
    C("reaches 2048× only at rank 1", lambda: f"reaches {e_().layer_size_ratio(4096, 4096, 1):g}× only at rank 1", EX),
    C("from 8 to 64, it is 256× down to 32×", lambda: f"from 8 to 64, it is {_sq(8):g}× down to {_sq(64):g}×", EX),
    C('hundreds of times at best, and only\ntens of times at rank 64, never "thousands"',
      lambda: f'{_magnitude(_sq(8))} of times at best, and only\n{_magnitude(_sq(64))} of times at rank 64, never '
              f'"{"thousands" if max(_sq(r) for r in (8, 16, 32, 64)) < 1000 else "?"}"', EX),
    # the popular figure the chapter refutes: the check is that it IS wrong at the ranks used
    C("thousands of times smaller than W", lambda: "thousands of times smaller than W"
      if _magnitude(_sq(16)) != "thousands" and _magnitude(_sq(1)) == "thousands" else "true after all", GUIDE, EX),
    C('128× at rank 16, not "thousands"',
      lambda: f'{_sq(16):g}× at rank 16, not "{"thousands" if _magnitude(_sq(16)) != "thousands" else "?"}"', CHEAT),
    C("off by an\norder of magnitude at rank 16", lambda: "off by an\norder of magnitude at rank 16"
      if round(math.log10(1000 / _sq(16))) == 1 else "by something else", GUIDE),
    C("while `in` and `out` are thousands", lambda: "while `in` and `out` are " + "/".join(sorted(
        {_magnitude(n) for io in e_().linear_shapes(L2()).values() for n in io})), GUIDE),
    C("≈0.78%", lambda: approx(e_().lora_flop_overhead(4096, 4096, 16) * 100, 2, "%"), GUIDE, INTERVIEW, CHEAT),
    # --- Llama-2-7B gate_proj (exercises 1, 2) -------------------------------------------------
    C("`16 · (4096 + 11008)` = 241,664",
      lambda: f"`16 · (4096 + 11008)` = {e_().adapter_params(L2(), 16, ['gate_proj']) // L2().num_layers:,}", EX),
    C("`r·in + r·out` = 241,664",
      lambda: f"`r·in + r·out` = {e_().adapter_params(L2(), 16, ['gate_proj']) // L2().num_layers:,}", EX),
    C("`in·out` = 45,088,768", lambda: "`in·out` = {:,}".format(
        (lambda i, o: i * o)(*e_().linear_shapes(L2())["gate_proj"])), EX),
    C("another 45,088,768", lambda: "another {:,}".format(
        (lambda i, o: i * o)(*e_().linear_shapes(L2())["gate_proj"])), EX),
    C("≈187× larger", lambda: approx(e_().layer_size_ratio(*e_().linear_shapes(L2())["gate_proj"], 16)) + " larger", EX),
    # --- Llama-3-8B, grouped-query attention -------------------------------------------------
    C("13,631,488 parameters (26 MiB), not 16.8 M",
      lambda: f"{e_().adapter_params(L3(), 16, QKVO):,} parameters ({exact(_ad(L3()), 'MiB')}), "
              f"not {e_().adapter_params(L2(), 16, QKVO) / 1e6:.1f} M", GUIDE),
    C("13,631,488 params = 26 MiB, not 16.8 M",
      lambda: f"{e_().adapter_params(L3(), 16, QKVO):,} params = {exact(_ad(L3()), 'MiB')}, "
              f"not {e_().adapter_params(L2(), 16, QKVO) / 1e6:.1f} M", CHEAT),
    C("not 16.8 M parameters", lambda: f"not {e_().adapter_params(L2(), 16, QKVO) / 1e6:.1f} M parameters", EX),
    C("that is 13,631,488 parameters, 26 MiB in 16-bit",
      lambda: f"that is {e_().adapter_params(L3(), 16, QKVO):,} parameters, {exact(_ad(L3()), 'MiB')} in 16-bit", EX),
    C("39 of them", lambda: f"{e_().adapters_per_gib(L3(), 16, QKVO)} of them", EX),
    C("`4096 → 1024`", lambda: "`{} → {}`".format(*e_().linear_shapes(L3())["k_proj"]), GUIDE),
    C("map 4096 → 1024", lambda: "map {} → {}".format(*e_().linear_shapes(L3())["k_proj"]), EX),
    # --- slots -------------------------------------------------------------------------------
    # Every slot statement names its targets: q,k,v,o only (--lora-target-modules), or vLLM's
    # default (all linear layers + embedding + LM head), which reserves much more.
    C("projections (`--lora-target-modules q_proj k_proj v_proj o_proj`), 8 slots of rank 64 on\n"
      "  Llama-2-7B reserve 1 GiB in 16-bit",
      lambda: "projections (`--lora-target-modules q_proj k_proj v_proj o_proj`), 8 slots of rank 64 on\n"
              f"  Llama-2-7B reserve {exact(e_().slot_bytes(L2(), 8, 64, QKVO), 'GiB')} in 16-bit", GUIDE),
    C("8 slots reserve\n1 GiB", lambda: f"8 slots reserve\n{exact(e_().slot_bytes(L2(), 8, 64, QKVO), 'GiB')}", EX),
    C("8 slots of rank 64 on Llama-2-7B reserve 1 GiB with `--lora-target-modules q_proj k_proj",
      lambda: f"8 slots of rank 64 on Llama-2-7B reserve {exact(e_().slot_bytes(L2(), 8, 64, QKVO), 'GiB')} "
              "with `--lora-target-modules q_proj k_proj", INTERVIEW),
    C("| 8 slots × rank 64, Llama-2-7B, targets `q,k,v,o` only | 1 GiB reserved |",
      lambda: f"| 8 slots × rank 64, Llama-2-7B, targets `q,k,v,o` only | "
              f"{exact(e_().slot_bytes(L2(), 8, 64, QKVO), 'GiB')} reserved |", CHEAT),
    C("≈2.45 GiB", lambda: f"≈{_default_slots(L2(), 8, 64) / 2**30:.2f} GiB", GUIDE, EX, INTERVIEW, CHEAT),
    C("rank-8 `q,k,v,o` adapters use\n128 MiB",
      lambda: f"rank-8 `q,k,v,o` adapters use\n{exact(e_().slot_bytes(L2(), 8, 8, QKVO), 'MiB')}", EX),
    C("7/8", lambda: str(Fraction(64 - 8, 64)), GUIDE, EX, CHEAT),
    # LRU under independent uniform requests over n adapters on s slots hits s/n (the simulation
    # is in test_lab04_trace_format.py::test_lru_one_more_adapter_than_slots_thrashes_only_in_cyclic_order)
    C("8/9 = 88.9 %", lambda: f"{Fraction(8, 9)} = {8 / 9 * 100:.1f} %", CHEAT),
    C("896 MiB in all",
      lambda: f"{exact(e_().slot_bytes(L2(), 8, 64, QKVO) - e_().slot_bytes(L2(), 8, 8, QKVO), 'MiB')} in all", EX),
    C("their slots reserve\n5 GiB",
      lambda: f"their slots reserve\n{exact(e_().slot_bytes(L3(), 16, 64, 'all-linear'), 'GiB')}", EX),
    C("517 MiB more, so ≈5.5 GiB in all",
      lambda: f"{exact(_embed_head_slots(L3(), 16, 64), 'MiB')} more, so "
              f"≈{_default_slots(L3(), 16, 64) / 2**30:.1f} GiB in all", EX),
    C("more than a third of the\nbase weights' size", lambda: "more than a third of the\nbase weights' size"
      if 1 / 3 < _default_slots(L3(), 16, 64) / e_().base_bytes(L3()) < 1 / 2 else "not that", EX),
    C("halve the slot memory", lambda: "halve the slot memory"
      if Fraction(_default_slots(L3(), 16, 32), _default_slots(L3(), 16, 64)) == Fraction(1, 2) else "not half", EX),
    # --- MoE ---------------------------------------------------------------------------------
    C("Mixtral-8x7B is 458 MiB, against 76.25 MiB",
      lambda: f"Mixtral-8x7B is {exact(_ad(MIX(), 16, 'all-linear'), 'MiB')}, against "
              f"{_ad(L2(), 16, 'all-linear') / 2**20:.2f} MiB", GUIDE),
    C("Mixtral-8x7B is 26 MiB, like Llama-3-8B's",
      lambda: f"Mixtral-8x7B is {exact(_ad(MIX()), 'MiB')}, like Llama-3-8B's"
      if _ad(MIX()) == _ad(L3()) else "differs", EX),
    C("projections it is 458 MiB", lambda: f"projections it is {exact(_ad(MIX(), 16, 'all-linear'), 'MiB')}", EX),
    C("is 458 MiB against\n> 26 MiB", lambda: f"is {exact(_ad(MIX(), 16, 'all-linear'), 'MiB')} against\n> "
      f"{exact(_ad(MIX()), 'MiB')}", INTERVIEW),
    C("eight times", lambda: {8: "eight times"}.get(MIX().num_experts, "?"), EX),
    # --- fleet -------------------------------------------------------------------------------
    C("100 GPUs", lambda: f"{e_().engines_needed(100, 8) + e_().gpus_saved(100, 8)} GPUs", GUIDE, EX),
    C("13 engines, 87 GPUs saved",
      lambda: f"{e_().engines_needed(100, 8)} engines, {e_().gpus_saved(100, 8)} GPUs saved", GUIDE, CHEAT, INDEX),
    C("⌈100 / 8⌉ = 13 engines, so 87 GPUs saved",
      lambda: f"⌈100 / 8⌉ = {e_().engines_needed(100, 8)} engines, so {e_().gpus_saved(100, 8)} GPUs saved", EX),
    C("⌈200 / 10⌉ = 20 engines", lambda: f"⌈200 / 10⌉ = {e_().engines_needed_load_aware(100, 8, 2.0, 10.0)} engines", EX),
    C("so 20 engines", lambda: f"so {e_().engines_needed_load_aware(100, 8, 2.0, 10.0)} engines", EX),
    C("and 80 GPUs are\nsaved", lambda: f"and {e_().gpus_saved_load_aware(100, 8, 2.0, 10.0)} GPUs are\nsaved", EX),
    # --- the engine's own numbers (vllm/config/lora.py) ---------------------------------------
    C("1, 8, 16, 32, 64, 128, 256, 320, 512", _vllm_ranks, DEEP, EX, INTERVIEW, CHEAT, source="vllm"),
    C("`max_lora_rank = 16`", lambda: f"`max_lora_rank = {_vllm_default('max_lora_rank')}`", DEEP, source="vllm"),
    C("`max_loras = 1`", lambda: f"`max_loras = {_vllm_default('max_loras')}`", DEEP, source="vllm"),
    C("`max_cpu_loras = None`", lambda: f"`max_cpu_loras = {_vllm_default('max_cpu_loras')}`", DEEP, source="vllm"),
    C("step; default 1", lambda: f"step; default {_vllm_default('max_loras')}", INTERVIEW, source="vllm"),
    C("(1, 8, 16, 32, 64, 128, 256, 320, 512); default 16",
      lambda: f"({_vllm_ranks()}); default {_vllm_default('max_lora_rank')}", INTERVIEW, source="vllm"),
    C("most distinct adapters per step | 1 |",
      lambda: f"most distinct adapters per step | {_vllm_default('max_loras')} |", CHEAT, source="vllm"),
    C("lora_b_stacked, 1.0, ...)", lambda: f"lora_b_stacked, {_vllm_scale()}, ...)", DEEP, source="vllm"),
    C("the scale **1.0**", lambda: f"the scale **{_vllm_scale()}**", DEEP, source="vllm"),
    C("multiplies by 1.0", lambda: f"multiplies by {_vllm_scale()}", DEEP, source="vllm"),
    C("with scale 1.0", lambda: f"with scale {_vllm_scale()}", CHEAT, source="vllm"),
    C("| 16 |", lambda: f"| {_vllm_default('max_lora_rank')} |", CHEAT, source="vllm"),
]

# Numbers quoted from a cited source: the paragraph that states them must cite it.
QUOTED = {
    "12×": ("Punica", "Chen et al."),
    "2 ms": ("Punica", "Chen et al."),
    "2,000": ("S-LoRA", "Sheng et al."),
    "4×": ("S-LoRA", "Sheng et al."),
    "30×": ("S-LoRA", "Sheng et al."),
    "10,000×": ("LoRA paper", "Hu et al."),
    "175 B": ("LoRA paper", "Hu et al."),            # GPT-3 175B, the model the 10,000× is about
    "thousands of": ("S-LoRA", "Sheng"),              # the title "Serving Thousands of Concurrent ..."
}
# Numbers that are structure, not claims: a phrase as a page writes it (line breaks may differ)
# and why. A number is structural only inside a paragraph that contains its phrase, so the entry
# does not excuse the same words elsewhere.
STRUCTURAL = {
    "a hundred customers": "the guide's opening premise, the 100 tenants whose fleet the claims recompute",
    "about a dozen adapters are hot": "a premise of exercise 15, given, not derived",
    "a host cache of a few hundred": "a sizing suggestion for 500 tenants' warm tail, not a computed value",
    "applies it twice": "a count of applications (folded into B, then again in the kernel), not a size",
    "both are scaled twice": "the same count, for the mixed and the single-request runs",
}


def _page_text(rel: str) -> str:
    return (ROOT / rel).read_text()


def _tokens_of(text: str) -> set[str]:
    return set(doccheck.number_tokens(text))


def _ws(text: str) -> str:
    """Whitespace and blockquote marks collapsed, for finding a phrase in a paragraph."""
    return re.sub(r"\s+(?:>\s+)*", " ", text).strip().lower()


COVERED = set().union(*(_tokens_of(c.text) for c in CLAIMS))


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

def test_chapter_pages_exist():
    names = {doccheck.rel(p) for p in PAGES}
    for rel in (GUIDE, DEEP, MINI, EX, INTERVIEW, CHEAT, INDEX):
        assert rel in names, f"{rel} is missing"


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.text.replace("\n", " ")[:60])
def test_claim_is_what_the_code_computes(claim):
    computed = claim.compute()
    assert computed == claim.text, (f"the chapter says {claim.text!r} but the reference computes "
                                    f"{computed!r}: fix the page(s) {', '.join(claim.pages)}")


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.text.replace("\n", " ")[:60])
def test_claim_appears_where_the_table_says(claim):
    missing = [p for p in claim.pages if claim.text not in _page_text(p)]
    assert not missing, f"{claim.text!r} is no longer on {missing}: update the claim table"


@pytest.mark.parametrize("page", PAGES, ids=doccheck.rel)
def test_every_number_on_the_page_is_recomputed_or_cited(page):
    text = page.read_text()
    paragraphs = re.split(r"\n\s*\n", text)
    uncovered = []
    for line_no, tok, line in doccheck.page_numbers(page):
        if tok in COVERED:
            continue
        para = next(p for p in paragraphs if line in p)
        if any(tok in _tokens_of(phrase) and _ws(phrase) in _ws(para) for phrase in STRUCTURAL):
            continue
        if tok in QUOTED:
            if any(src in para for src in QUOTED[tok]):
                continue
            uncovered.append(f"{doccheck.rel(page)}:{line_no}: {tok!r} is quoted but its paragraph "
                             f"cites none of {QUOTED[tok]}")
            continue
        uncovered.append(f"{doccheck.rel(page)}:{line_no}: {tok!r} in: {line.strip()}")
    assert not uncovered, ("numbers with no claim in grader/tests/test_chapter_numbers.py (add one that "
                           "recomputes it from the reference, or cite it):\n" + "\n".join(uncovered))


def test_common_wrong_claims_are_corrected():
    """The chapter says what is commonly said wrong, and corrects it, on the pages named."""
    guide, ex, cheat, interview = (_page_text(p) for p in (GUIDE, EX, CHEAT, INTERVIEW))
    assert "thousands of times smaller than W" in guide and "2048/r" in guide
    assert "≈430×" in guide and "≈402×" in guide and "GB" in guide and "GiB" in guide
    assert "must be ≥ 1" in guide and "adapter id 0" in guide.lower()
    assert "must be ≥ 1" in cheat and "must be ≥ 1" in interview
    assert 'Adapter id 0" does not exist' in cheat
    assert "thousands" in ex and "≈431×" in ex
    e = econ()
    assert e.layer_size_ratio(4096, 4096, 16) < 1000 <= e.layer_size_ratio(4096, 4096, 1)


def test_scan_finds_uncovered_numbers():
    """The scan can fail: a changed number is not covered, a cited one needs its citation."""
    assert doccheck.number_tokens("it is ≈403× and 33 MiB") == ["403×", "33 MiB"]
    assert "403×" not in COVERED and "33 MiB" not in COVERED
    assert "402×" in COVERED and "32 MiB" in COVERED and "0.78 %" in COVERED


def test_scan_finds_numbers_in_words():
    """Numbers in words and ranges go through the same check as digits (issue 12: exercise 3's
    "one to two hundred times" was wrong, and the scan could not see it)."""
    tok = doccheck.number_tokens
    assert tok('the truth is "one to two hundred times"') == ["one to two hundred times"]
    assert tok("one to two\nhundred times") == ["one to two hundred times"]    # over a line break
    assert tok("W is tens of times larger, a few thousand in all") == ["tens of times", "a few thousand"]
    assert tok("it is twice as big, half the memory, a third of it, an order of magnitude") == [
        "twice", "half", "a third", "an order of magnitude"]
    assert tok("eight times the MLP, a few percent, 32 to 64 times, 8–64 MiB") == [
        "eight times", "a few percent", "32–64×", "8–64 MiB"]
    assert tok("up to 4 times the throughput") == ["4×"]
    # counts in words are structure, like bare integers
    assert tok("one base product, two slots, several adapters, a few lines, one GPU each, per GiB") == []
    for t in ("one to two hundred times", "a few thousand", "twice", "half", "32–64×"):
        assert t not in COVERED, t


def test_a_number_in_words_on_a_page_is_checked(tmp_path, monkeypatch):
    """The page scan reports a number in words that no claim covers, with its line."""
    page = tmp_path / "page.md"
    page.write_text("Intro.\n\nFor ranks 8 to 64, W is one to two\nhundred times larger than A and B.\n")
    found = doccheck.page_numbers(page)
    assert [(k, t) for k, t, _ in found] == [(3, "one to two hundred times")]


def test_structural_phrases_are_on_a_page_and_excuse_only_their_paragraph():
    text = " ".join(_ws(p.read_text()) for p in PAGES)
    stale = [phrase for phrase in STRUCTURAL if _ws(phrase) not in text]
    assert not stale, f"STRUCTURAL phrases no longer on any chapter page: {stale}"
    assert all(_tokens_of(phrase) for phrase in STRUCTURAL), "a STRUCTURAL phrase with no number in it"
    assert "twice" not in COVERED and "a dozen" not in COVERED


def test_embedding_and_head_slots_match_the_engine():
    """The default-target slot figures (≈2.45 GiB, 517 MiB) add the embedding and LM-head slots to
    lab 03's all-linear ``slot_bytes``; that sum is what a real vLLM 0.32.0 engine allocated."""
    cap = json.loads((ROOT / "labs/lab03_lora_economics/configs/captured-vllm-lora-buffers.json").read_text())
    tiny = shape("lab02-tiny-llama")
    defaults = [r for r in cap["runs"] if r["lora_target_modules"] is None]
    assert defaults
    for run in defaults:
        per = run["buffer_bytes_by_module"]
        m, r = run["max_loras"], run["max_lora_rank"]
        assert _embed_head_slots(tiny, m, r, 4) == per["embed_tokens"] + per["logits_processor"], run
        assert _default_slots(tiny, m, r, 4) == run["buffer_bytes_total"], run


def test_slot_statements_name_their_targets():
    """Issue 12: "8 slots at rank 64 reserve 1 GiB" holds only with q,k,v,o as targets. Every page
    that gives the 1 GiB figure also gives the default-target one, and says which is which."""
    for rel in (GUIDE, EX, INTERVIEW, CHEAT):
        text = _page_text(rel)
        assert "1 GiB" in text and "≈2.45 GiB" in text, rel
        assert "--lora-target-modules" in text or "targets `q,k,v,o` only" in text, rel
    guide = _page_text(GUIDE)
    assert "when an adapter carries them" not in guide          # their slots are always allocated
    assert "always\n  allocated" in guide


def test_corrected_claims_stay_corrected():
    """The other wrong claims of issue 12, fixed where they appeared."""
    deep, interview, cheat, mini, guide, ex = (_page_text(p) for p in (DEEP, INTERVIEW, CHEAT, MINI, GUIDE, EX))
    lab02 = _page_text("labs/lab02_serve_many_loras/README.md")
    # the -1 alias bites whenever the LAST slot holds an adapter; the rule is max_loras >= adapters + 1
    for rel, text in ((DEEP, deep), (INTERVIEW, interview), (CHEAT, cheat), (EX, ex), ("lab02", lab02)):
        flat = _ws(text)
        assert "last slot" in flat and "max_loras ≥ adapters + 1" in text, rel
        for wrong in ("only shows when every slot is occupied", "when every slot is full",
                      "if every slot is occupied, the base-model row", "and every slot busy",
                      "test with all slots occupied"):
            assert wrong not in flat, (rel, wrong)
    # the CPU gather's cost
    assert "tokens × rank × (in + out)" in _ws(mini) and "tokens × out × rank" not in mini
    # S-LoRA's 4x is against vLLM-packed (merged model copies), not vLLM's adapter support
    assert "vLLM-packed" in guide and "early adapter support" not in guide
    # the upstream fix is not known to have shipped
    for rel, text in ((DEEP, deep), ("lab02", lab02)):
        assert "48421" in text and "0.33.0" not in text and "could not confirm" in _ws(text), rel
    # skipped requests go to the front only under FCFS
    for rel in (GUIDE, DEEP, INTERVIEW, EX):
        flat = _ws(_page_text(rel))
        assert "first-come-first-served" in flat and "priority" in flat, rel
    assert "Which three values" not in deep


def test_claims_fail_when_the_code_changes(monkeypatch):
    """A claim is tied to the code: a different reference value breaks it."""
    e = econ()
    claim = next(c for c in CLAIMS if c.text == "≈402×")
    real = e.shrink_ratio
    monkeypatch.setattr(e, "shrink_ratio", lambda *a, **k: real(*a, **k) * 1.01)
    assert claim.compute() != claim.text


def _runnable_script(page: Path) -> str:
    return "\n".join(b.code for b in doccheck.blocks(page.read_text()) if b.runnable)


RUNNABLE = [p for p in PAGES if _runnable_script(p)]


def test_mini_build_is_runnable_and_short():
    mini = ROOT / MINI
    assert mini in RUNNABLE
    code = [ln for b in doccheck.blocks(mini.read_text()) if b.runnable
            for ln in b.code.splitlines()]
    build = code[:next(i for i, ln in enumerate(code) if "lab01_batched_lora_matmul" in ln)]
    assert len([ln for ln in build if ln.strip()]) <= 60, "the mini-build is meant to be about 50 lines"


@pytest.mark.parametrize("page", RUNNABLE, ids=doccheck.rel)
def test_runnable_blocks_run_against_the_reference(page, tmp_path):
    if not SOLUTIONS.is_dir():
        pytest.skip("no solutions/ in this copy (student release)")
    script = tmp_path / "blocks.py"
    script.write_text(_runnable_script(page))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SOLUTIONS), str(ROOT)]), "MPLBACKEND": "Agg",
           "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{doccheck.rel(page)}: a runnable block failed:\n{proc.stdout}{proc.stderr}"


def test_exercises_and_interview_are_complete():
    """At least 12 exercises, each with a worked answer, and at least 8 interview questions."""
    ex = _page_text(EX)
    exercises = re.findall(r"^### (\d+)\. ", ex, re.M)
    assert len(exercises) >= 12 and exercises == [str(i) for i in range(1, len(exercises) + 1)]
    sections = re.split(r"^### \d+\. ", ex, flags=re.M)[1:]
    unanswered = [n for n, sec in zip(exercises, sections) if "<details><summary>Answer</summary>" not in sec]
    assert not unanswered, f"exercises without a worked answer: {unanswered}"
    questions = re.findall(r"^\*\*(\d+)\. .+\?\*\*$", _page_text(INTERVIEW), re.M)
    assert len(questions) >= 8
    answers = re.split(r"^\*\*\d+\. ", _page_text(INTERVIEW), flags=re.M)[1:]
    assert all("\n> " in a for a in answers), "every interview question needs a model answer"
    cheat = _page_text(CHEAT).splitlines()
    assert len(cheat) <= 90, f"the cheatsheet is meant to fit one page; it has {len(cheat)} lines"
