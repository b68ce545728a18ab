"""How long the whole Pulumi program takes under Pulumi's mocks, against an empty program.

Run: ``uv run python bench/bench_infra.py``. Prints times and ratios; asserts nothing (timings
on a shared machine are noisy). Both programs run in this process under the same mocks:
- cold: the first run, including importing the provider modules the program uses;
- warm: the median of later runs;
- empty: a program that only exports one value (the runtime's own overhead).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.infra.harness import install_mocks, run_program  # noqa: E402

RUNS = 10


def timed(program: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; CPU time is less skewed by other load on the machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    run_program({}, program=program)
    return time.perf_counter() - wall, time.process_time() - cpu


def median(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> None:
    install_mocks()
    infra = ROOT / "infra"
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder)
        (empty / "__main__.py").write_text('import pulumi\npulumi.export("x", "y")\n')
        empty_cold = timed(empty)
        cold = timed(infra)
        warm = median([timed(infra) for _ in range(RUNS)])
        baseline = median([timed(empty) for _ in range(RUNS)])
    resources = len(run_program({}).resources)
    print(f"program under mocks ({resources} resources), seconds as wall / CPU:")
    print(f"  cold, first run with provider imports: {cold[0]:.3f} / {cold[1]:.3f}")
    print(f"  warm, median of {RUNS}:                  {warm[0]:.3f} / {warm[1]:.3f}")
    print(f"empty program: first {empty_cold[0]:.4f}, median {baseline[0]:.4f} / {baseline[1]:.4f}")
    print(f"ratio warm/empty (wall): {warm[0] / baseline[0]:.0f}x")
    print(f"cold against the 2 s budget: wall {cold[0] / 2:.2f}, CPU {cold[1] / 2:.2f}")


if __name__ == "__main__":
    main()
