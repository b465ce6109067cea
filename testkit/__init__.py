"""Helpers shared by tests/ and benchmarks/: real server processes, small artifacts, test files."""
