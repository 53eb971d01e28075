"""Lab 02 — serve many LoRA adapters on real vLLM: one mixed batch, checked row by row."""
