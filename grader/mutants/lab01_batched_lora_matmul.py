"""Plausible wrong answers to lab01: each must score below full marks (see grader/mutants/__init__.py)."""
from grader.mutants import Mutant

MUTANTS = [
    Mutant(
        "missing_scaling",
        "    return expand(scaling * s, B).to(x.dtype)",
        "    return expand(s, B).to(x.dtype)",
        "forgets the adapter's scaling (lora_alpha / r): correct only when scaling == 1",
        public_passes=False,
    ),
    Mutant(
        "scaling_applied_twice",
        "        out.index_add_(0, rows, lora_delta(xa[rows], ad.A, ad.B, ad.scaling))   # scatter back",
        "        out.index_add_(0, rows, ad.scaling * lora_delta(xa[rows], ad.A, ad.B, ad.scaling))",
        "multiplies by scaling in the grouped loop although lora_delta already did",
        public_passes=False,
    ),
    Mutant(
        "stacked_scaling_twice",
        "        B_stacked[k, :, :r] = ad.B.to(_acc(dtype)) * ad.scaling   # scaling folded in, once",
        "        A_stacked[k, :r] = ad.A * ad.scaling\n"
        "        B_stacked[k, :, :r] = ad.B.to(_acc(dtype)) * ad.scaling",
        "folds the scaling into both A and B, so the slot form applies it twice",
        public_passes=False,
    ),
    Mutant(
        "scaling_not_folded",
        "        B_stacked[k, :, :r] = ad.B.to(_acc(dtype)) * ad.scaling   # scaling folded in, once",
        "        B_stacked[k, :, :r] = ad.B",
        "stacks B as is: the slot form, which has no scaling argument, then never applies it",
        public_passes=False,
    ),
    Mutant(
        "minus_one_aliases_last_slot",
        "        if k < 0:\n            continue                            # -1: no adapter, base product only\n",
        "",
        "indexes the slots with -1 like vLLM 0.32.0's CPU ops: base rows get the LAST slot's adapter",
        public_passes=False,
    ),
    Mutant(
        "scatter_in_sorted_order",
        "        out.index_add_(0, rows, lora_delta(xa[rows], ad.A, ad.B, ad.scaling))   # scatter back",
        "        out[start:start + n] += lora_delta(xa[rows], ad.A, ad.B, ad.scaling)",
        "adds each group's delta at its place in the SORTED order instead of scattering it back to the original rows",
        public_passes=False,
    ),
    Mutant(
        "segment_starts_off_by_one",
        "    starts = torch.cumsum(lengths, 0) - lengths",
        "    starts = torch.cumsum(lengths, 0) - lengths + 1",
        "segment boundaries off by one: each group starts one row late",
        public_passes=False,
    ),
    Mutant(
        "segment_ends_as_starts",
        "    starts = torch.cumsum(lengths, 0) - lengths",
        "    starts = torch.cumsum(lengths, 0)",
        "uses the inclusive prefix sum (where groups end) as where they start",
        public_passes=False,
    ),
    Mutant(
        "base_skipped_for_base_rows",
        "    out = xa @ W.to(acc).T                      # the one base product, shared by every row",
        "    out = torch.zeros((x.shape[0], W.shape[0]), dtype=acc)\n"
        "    has_adapter = adapter_ids != 0\n"
        "    out[has_adapter] = xa[has_adapter] @ W.to(acc).T",
        "runs the base product only for rows that have an adapter: base rows come out zero",
        public_passes=False,
    ),
    Mutant(
        "base_product_per_adapter",
        "    out = xa @ W.to(acc).T                      # the one base product, shared by every row\n"
        "    seg = segment_by_adapter(adapter_ids)",
        "    out = torch.empty((x.shape[0], W.shape[0]), dtype=acc)\n"
        "    seg = segment_by_adapter(adapter_ids)\n"
        "    for start, n in zip(seg.starts.tolist(), seg.lengths.tolist()):\n"
        "        rows = seg.order[start:start + n]\n"
        "        out[rows] = xa[rows] @ W.to(acc).T",
        "one base product per adapter group: right numbers, but W is read once per adapter",
        public_passes=False,
    ),
    Mutant(
        "shrink_on_every_row",
        "        out.index_add_(0, rows, lora_delta(xa[rows], ad.A, ad.B, ad.scaling))   # scatter back",
        "        out.index_add_(0, rows, lora_delta(xa, ad.A, ad.B, ad.scaling)[rows])",
        "runs every adapter over the whole batch and keeps only its rows: right numbers, G times the work",
    ),
    Mutant(
        "loop_output_fp32",
        "    out = torch.empty((x.shape[0], W.shape[0]), dtype=x.dtype)",
        "    out = torch.empty((x.shape[0], W.shape[0]), dtype=_acc(x.dtype))",
        "the loop returns its float32 buffer for bfloat16 input",
        public_passes=False,   # test_multi_bfloat16_in_bfloat16_out
    ),
    Mutant(
        "grouped_output_fp32",
        "        out.index_add_(0, rows, lora_delta(xa[rows], ad.A, ad.B, ad.scaling))   # scatter back\n"
        "    return out.to(x.dtype)",
        "        out.index_add_(0, rows, lora_delta(xa[rows], ad.A, ad.B, ad.scaling))   # scatter back\n"
        "    return out",
        "returns the float32 accumulator instead of casting back to x.dtype",
        public_passes=False,   # test_multi_bfloat16_in_bfloat16_out
    ),
    Mutant(
        "slots_output_fp32",
        "        out.index_add_(0, rows, expand(shrink(xa[rows], A_stacked[k]), B_stacked[k]))\n"
        "    return out.to(x.dtype)",
        "        out.index_add_(0, rows, expand(shrink(xa[rows], A_stacked[k]), B_stacked[k]))\n"
        "    return out",
        "returns the float32 accumulator instead of casting back to x.dtype",
        public_passes=False,   # test_slots_bfloat16_in_bfloat16_out
    ),
    Mutant(
        "stack_scales_B_in_place",
        "        B_stacked[k, :, :r] = ad.B.to(_acc(dtype)) * ad.scaling   # scaling folded in, once",
        "        B_stacked[k, :, :r] = ad.B.mul_(ad.scaling)",
        "folds the scaling into the caller's B in place: right the first time, the adapter is ruined after",
        public_passes=False,
    ),
    Mutant(
        "slots_clamp_in_place",
        "    for k in torch.unique(token_slots).tolist():\n"
        "        if k < 0:\n"
        "            continue                            # -1: no adapter, base product only\n"
        "        rows = (token_slots == k).nonzero().squeeze(1)\n",
        "    has_adapter = token_slots >= 0\n"
        "    token_slots.clamp_(min=0)                   # upstream's fix, done on the caller's tensor\n"
        "    for k in torch.unique(token_slots).tolist():\n"
        "        rows = ((token_slots == k) & has_adapter).nonzero().squeeze(1)\n",
        "clamps -1 to 0 and masks those rows (right numbers) but in the caller's token_slots, in place",
    ),
    Mutant(
        "pads_to_largest_rank",
        "    A_stacked = torch.zeros((S, max_rank, d_in), dtype=dtype)\n"
        "    B_stacked = torch.zeros((S, d_out, max_rank), dtype=dtype)",
        "    max_rank = max(ad.rank for ad in slot_adapters if ad is not None)\n"
        "    A_stacked = torch.zeros((S, max_rank, d_in), dtype=dtype)\n"
        "    B_stacked = torch.zeros((S, d_out, max_rank), dtype=dtype)",
        "pads to the largest rank present instead of the engine's fixed max_rank",
        public_passes=False,
    ),
    Mutant(
        "no_validation_in_grouped",
        "    # BEGIN SOLUTION TODO 7\n    check_multi_lora_inputs(x, W, adapters, adapter_ids)\n",
        "    # BEGIN SOLUTION TODO 7\n",
        "skips the up-front checks: bad shapes surface as bare torch errors, a bad id only after the base product",
    ),
    Mutant(
        "loop_unknown_id_as_base",
        "    check_multi_lora_inputs(x, W, adapters, adapter_ids)\n"
        "    acc = _acc(x.dtype)\n"
        "    Wa = W.to(acc)                              # cast once, not once per row\n"
        "    out = torch.empty((x.shape[0], W.shape[0]), dtype=x.dtype)\n"
        "    for t, i in enumerate(adapter_ids.tolist()):\n"
        "        row = x[t:t + 1]\n"
        "        if i == 0:\n",
        "    acc = _acc(x.dtype)\n"
        "    Wa = W.to(acc)                              # cast once, not once per row\n"
        "    out = torch.empty((x.shape[0], W.shape[0]), dtype=x.dtype)\n"
        "    for t, i in enumerate(adapter_ids.tolist()):\n"
        "        row = x[t:t + 1]\n"
        "        if i == 0 or i not in adapters:\n",
        "skips the checks and treats an unknown id as 'no adapter': a typo in an id silently serves the base model",
    ),
    Mutant(
        "segments_not_stable",
        "    order = torch.argsort(ids, stable=True)",
        "    order = torch.argsort(ids, descending=True).flip(0)",
        "groups rows with a sort that does not keep row order inside a group (a flipped descending sort)",
        public_passes=False,
    ),
]
