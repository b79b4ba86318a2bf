"""Benchmarks: each prints its figures beside a baseline measured in the same run.

Run them one way, from the repo root: `.venv/bin/python -m bench.NAME [--help]` (docs/benchmarks.md).
"""
