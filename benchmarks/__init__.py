"""Benchmark scenarios (`scenarios/*.yaml`) and, later, the scoring and report code."""
