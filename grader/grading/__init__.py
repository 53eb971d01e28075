"""Grading one lab: the run (a watched judge process), its results, the report, the test catalog, per-test limits."""
