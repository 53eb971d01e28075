"""Lab 01's page quotes one benchmark run: its ratios must follow from its own table.

The times are a measurement (they cannot be recomputed here), but every ratio and percentage
the page derives from them can: each must lie within what the table's rounding (0.1 ms) allows.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "labs/lab01_batched_lora_matmul/README.md").read_text()


def _table() -> dict[str, tuple[float, float]]:
    rows = {}
    for m in re.finditer(r"^\| ([^|]+?) \| ([\d.]+) \| ([\d.]+) \|$", PAGE, re.M):
        rows[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    assert {"base product alone", "grouped (TODO 7)", "per-row loop (TODO 5)",
            "vLLM 0.32.0 torch ops", "slots (TODO 9)"} <= set(rows), rows
    return rows


def _range(num: float, den: float, h: float = 0.05) -> tuple[float, float]:
    """Smallest and largest num/den given each was rounded to 0.1."""
    return (num - h) / (den + h), (num + h) / (den - h)


def _covers(stated: float, digits: int, lo: float, hi: float) -> bool:
    half = 0.5 * 10 ** -digits
    return stated + half >= lo and stated - half <= hi


def test_ratio_column_is_near_the_ratio_of_medians():
    # the column is a median of per-round ratios, not a ratio of medians: close, not equal
    rows = _table()
    base = rows["base product alone"][0]
    for name, (ms, ratio) in rows.items():
        lo, hi = _range(ms, base)
        assert 0.98 * lo <= ratio <= 1.02 * hi, f"{name}: ratio {ratio} far from {ms}/{base}"
    assert "(vLLM's ops: 2.04 against 162.2 / 80.0 = 2.03)" in PAGE
    assert f"{162.2 / 80.0:.2f}" == "2.03"


def test_quoted_ratios_follow_from_the_table():
    rows = _table()
    base, grouped = rows["base product alone"][0], rows["grouped (TODO 7)"][0]
    loop, vllm = rows["per-row loop (TODO 5)"][0], rows["vLLM 0.32.0 torch ops"][0]
    over = float(re.search(r"grouped apply over the base product: ([\d.]+)%", PAGE).group(1))
    lo, hi = _range(grouped, base)
    assert _covers(over, 1, (lo - 1) * 100, (hi - 1) * 100), f"overhead {over}% vs {grouped}/{base}"
    ratio = float(re.search(r"Per-row loop / grouped: ([\d.]+)×", PAGE).group(1))
    assert _covers(ratio, 1, *_range(loop, grouped)), f"loop/grouped {ratio} vs {loop}/{grouped}"
    ratio = float(re.search(r"vLLM's torch ops / grouped: ([\d.]+)×", PAGE).group(1))
    assert _covers(ratio, 2, *_range(vllm, grouped)), f"vllm/grouped {ratio} vs {vllm}/{grouped}"
    assert "about twice as fast" in PAGE and 1.8 <= ratio <= 2.2, "'about twice' needs a ratio near 2"
    assert "tokens × rank × (in + out)" in PAGE and "tokens × out × rank" not in PAGE
