"""Lab 01 — batched multi-LoRA matmul: one base product, a little extra per adapter."""
