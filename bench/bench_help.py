"""`superbatch --help` against `python -c "import typer"` (target <= 1.3x).

The CLI must not import the Azure SDK, Pulumi or rich before a command needs them. Both are
run as fresh processes with the same interpreter; prints the best of N rounds of each
(interleaved, after one warm-up round) and the ratio.

    uv run python bench/bench_help.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

# As a user's machine runs it: Python caches bytecode (some CI images set
# PYTHONDONTWRITEBYTECODE, which makes every start compile every module again).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TARGET = 1.3


def _timed(argv: list[str], into: list[float]) -> None:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=ENV)
    into.append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    help_cmd = [sys.executable, "-m", "superbatch", "--help"]
    typer_cmd = [sys.executable, "-c", "import typer"]
    ours: list[float] = []
    base: list[float] = []
    _timed(typer_cmd, [])  # warm-up: bytecode caches, page cache
    _timed(help_cmd, [])
    for _ in range(args.rounds):
        _timed(typer_cmd, base)
        _timed(help_cmd, ours)
    ratio = min(ours) / min(base)
    print(f"superbatch --help vs python -c 'import typer' (best of {args.rounds})")
    print(f"  import typer:      {min(base) * 1000:.0f} ms")
    print(f"  superbatch --help: {min(ours) * 1000:.0f} ms")
    print(f"  ratio: {ratio:.2f}x (target <= {TARGET}x) {'OK' if ratio <= TARGET else 'OVER'}")
    heavy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, runpy; sys.argv = ['superbatch', '--help']\n"
            "try:\n    runpy.run_module('superbatch', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'azure', 'pulumi', 'rich'}),"
            " file=sys.stderr)",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stderr.strip()
    print(f"  heavy modules imported by --help: {heavy}")


if __name__ == "__main__":
    main()
