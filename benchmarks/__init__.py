"""Speed and memory benchmarks (run ``python benchmarks/run.py``; see docs/performance.md)."""
