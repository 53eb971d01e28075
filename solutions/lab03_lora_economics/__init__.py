"""Lab 03 — LoRA economics: adapter memory, slot memory and fleet arithmetic from a model's config."""
