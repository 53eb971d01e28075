"""Plausible wrong answers to lab02: each must score below full marks (see grader/mutants/__init__.py)."""
from grader.mutants import Mutant

MUTANTS = [
    Mutant(
        "compares_text_not_ids",
        "    return [list(o.outputs[0].token_ids) for o in outs]",
        "    return [o.outputs[0].text for o in outs]",
        "returns the decoded text of the batched run: two different id sequences can read the same, "
        "and find_mismatches then has nothing exact to compare",
        public_passes=False,
    ),
    Mutant(
        "ignores_base_rows",
        "    for prompt, req in zip(prompts, requests):\n        (o,)",
        "    for prompt, req in zip(prompts, requests):\n        if req is None:\n            continue\n        (o,)",
        "runs only the adapter rows alone ('the base model needs no check'): the rows that the "
        "-1 bug breaks are exactly the ones left out",
        public_passes=False,
    ),
    Mutant(
        "reuses_id_0",
        "        ids[name] = k + 1",
        "        ids[name] = k",
        "numbers adapters from 0, the id vLLM keeps for 'no adapter'",
        public_passes=False,
    ),
    Mutant(
        "ids_by_first_use",
        "    for i, name in enumerate(rows):\n        if name is None:",
        "    ids = {}\n    for name in rows:\n        if isinstance(name, str) and name in adapters:\n"
        "            ids.setdefault(name, len(ids) + 1)\n"
        "    for i, name in enumerate(rows):\n        if name is None:",
        "numbers adapters in the order the rows first use them: the same adapter gets another id "
        "in another batch, and the engine then caches it twice",
    ),
    Mutant(
        "misses_eviction_lines",
        '        ("remove", re.compile(r"Removing adapter int id: (\\d+)")),\n',
        "",
        "parses adds and activations but not the 'Removing adapter' lines, so every eviction looks "
        "like a load into a free slot",
        public_passes=False,
    ),
    Mutant(
        "parses_from_line_start",
        "            m = pat.search(text)",
        "            m = pat.match(text)",
        "matches the message at the start of the line only; the logger puts a prefix in front",
        public_passes=False,
    ),
    Mutant(
        "slot_and_id_swapped",
        '                events.append(LoRAEvent("activate", int(m.group(1)), int(m.group(2)), n))',
        '                events.append(LoRAEvent("activate", int(m.group(2)), int(m.group(1)), n))',
        "reads the slot index as the id and the id as the slot",
        public_passes=False,
    ),
    Mutant(
        "only_first_mismatch",
        "        out.append(Mismatch(i, pos, b[pos] if pos < len(b) else None, a[pos] if pos < len(a) else None))",
        "        out.append(Mismatch(i, pos, b[pos] if pos < len(b) else None, a[pos] if pos < len(a) else None))\n"
        "        break",
        "stops at the first bad row: the report hides how many rows the bug reaches",
        public_passes=False,
    ),
    Mutant(
        "prefix_is_a_match",
        "        pos = next((k for k, (x, y) in enumerate(zip(b, a)) if x != y), min(len(b), len(a)))",
        "        pos = next((k for k, (x, y) in enumerate(zip(b, a)) if x != y), None)\n"
        "        if pos is None:\n            continue",
        "compares only the common length: a row that stopped early (or ran on) passes as equal",
    ),
    Mutant(
        "hits_reported_as_loads",
        '            kind, slot = "hit", where.get(ev.lora_id)',
        '            kind, slot = "load", where.get(ev.lora_id)',
        "calls every traced access a load: an adapter already in its slot is a hit, not a copy",
        public_passes=False,
    ),
    Mutant(
        "stale_victim",
        "                _close([ev, cache.access(ev.lora_id), victim, ev.slot])\n                victim = None",
        "                _close([ev, cache.access(ev.lora_id), victim, ev.slot])",
        "keeps the last victim after using it, so a later load into a free slot claims an eviction",
    ),
    Mutant(
        "accepts_any_rank",
        "    if max_lora_rank not in VLLM_MAX_LORA_RANKS:\n",
        "    if max_lora_rank < 1:\n",
        "accepts any positive rank; the engine refuses ranks outside its fixed list (12, 24, ...) at start-up",
        public_passes=False,
    ),
    Mutant(
        "host_cache_not_defaulted",
        "    if max_cpu_loras is None:\n        max_cpu_loras = max_loras\n",
        "",
        "passes max_cpu_loras=None through instead of the slot count it means",
        public_passes=False,
    ),
    # --- part 2 (online.py) ---------------------------------------------------------------------
    Mutant(
        "ttft_from_send",
        "        out.append(RequestTiming(first - a, last - a, s - a, total))",
        "        out.append(RequestTiming(first - s, last - s, s - a, total))",
        "measures latencies from when the client sent the request: a client that falls behind makes "
        "the server look faster",
        public_passes=False,
    ),
    Mutant(
        "first_chunk_even_if_empty",
        "            if n:\n                first = t if first is None else first",
        "            first = t if first is None else first\n            if n:",
        "takes the first chunk as the first token, though it can carry no token",
        public_passes=False,
    ),
    Mutant(
        "e2e_at_the_closing_chunk",
        "        out.append(RequestTiming(first - a, last - a, s - a, total))",
        "        out.append(RequestTiming(first - a, times[-1] - a, s - a, total))",
        "ends the request at the stream's closing chunk, which carries no token",
        public_passes=False,
    ),
    Mutant(
        "lookalike_from_any_prompt",
        "                 if prompts[j] == prompts[i] and models[j] != models[i] and list(alone[j]) == list(together[i])}",
        "                 if models[j] != models[i] and list(alone[j]) == list(together[i])}",
        "looks for the lookalike among every row's alone output, not only the same prompt's",
    ),
    Mutant(
        "least_squares_clipped",
        "    for r in range(1, X.shape[1] + 1):\n        for cols in itertools.combinations(range(X.shape[1]), r):\n"
        "            sol = np.linalg.lstsq(X[:, cols], y, rcond=None)[0]\n            if np.any(sol < 0):\n"
        "                continue\n",
        "    for r in range(X.shape[1], X.shape[1] + 1):\n        for cols in itertools.combinations(range(X.shape[1]), r):\n"
        "            sol = np.linalg.lstsq(X[:, cols], y, rcond=None)[0]\n            sol = np.clip(sol, 0, None)\n",
        "fits ordinary least squares and clips negative costs to 0: the other costs were fitted to "
        "make up for the negative one and are now wrong",
        public_passes=False,
    ),
    Mutant(
        "percentile_of_ratios",
        "            out[metric][q] = percentile(m, q) / denominator",
        "            out[metric][q] = percentile([x / max(z, 1e-12) for x, z in zip(m, p)], q)",
        "takes a percentile of per-request ratios instead of the ratio of the two percentiles",
        public_passes=False,
    ),
]
