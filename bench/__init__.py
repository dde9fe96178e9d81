"""Benchmarks: each module prints its figures as ratios to a reference measured in the same run."""
