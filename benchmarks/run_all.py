"""Run every benchmark in turn (`make bench`); each writes its own results/<name>.json and PNG."""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = (
    "benchmarks.gas",
    "benchmarks.accuracy",
    "benchmarks.walltime",
    "benchmarks.memory",
    "benchmarks.secagg",
    "benchmarks.disputes",
    "benchmarks.secure_dispute",
    "benchmarks.protocol_attacks",
)


def main() -> None:
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        saved = sys.argv
        sys.argv = [name]
        try:
            runpy.run_module(name, run_name="__main__")
        except SystemExit as exc:  # each script ends with `raise SystemExit(main())`
            if exc.code not in (None, 0):
                raise
        finally:
            sys.argv = saved


if __name__ == "__main__":
    main()
