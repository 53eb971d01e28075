"""Benchmarks: the grader against in-process runs, lab 01 and lab 04 on big inputs. Measurements, never tests."""
