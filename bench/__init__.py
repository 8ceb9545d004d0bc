"""Benchmarks of Transfer Studio against named baselines, measured in the same run: `python -m bench`."""
