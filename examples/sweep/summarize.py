"""Summarize every run of the sweep: summarize.py RESULTS_DIR SUMMARY.json"""

import json
import sys
from pathlib import Path

results, target = Path(sys.argv[1]), Path(sys.argv[2])
runs = [json.loads(p.read_text()) for p in sorted(results.glob("*/estimate.json"))]
mean = sum(r["pi"] for r in runs) / len(runs)
best = min(runs, key=lambda r: abs(r["pi"] - 3.141592653589793))
target.write_text(json.dumps({"runs": len(runs), "mean": mean, "closest": best}, indent=2) + "\n")
print(f"{len(runs)} runs, mean estimate {mean:.5f}")
