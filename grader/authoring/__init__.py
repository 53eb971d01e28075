"""Building the course: stubs from solutions, notebooks' graded cells, fingerprints, the release, reset, dependencies."""
