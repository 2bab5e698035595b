"""Benchmarks: they print and save numbers; tests never time anything."""
