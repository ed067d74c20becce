"""fedchain benchmarks: scripts that measure and report (``python -m benchmarks.gas``), never tests."""
