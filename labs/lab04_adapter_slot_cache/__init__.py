"""Lab 04 — adapter slots: the LRU slot cache, the two-tier cache, and the scheduler's max_loras rule."""
