"""Checks on the course's own text: numbers, links and vLLM line references."""
