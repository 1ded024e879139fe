"""Aggregates, their events and the rules they enforce: pure Python, no I/O."""
