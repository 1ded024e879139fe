"""Benchmarks that print figures (not tests). `python -m bench` runs the whole one."""
