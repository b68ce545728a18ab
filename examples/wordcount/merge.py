"""Merge every task's counts: merge.py RESULTS_DIR TOTAL.json

RESULTS_DIR holds results/<task>/out/*.json, one folder per task (the aggregate step's
working dir layout).
"""

import json
import sys
from collections import Counter
from pathlib import Path

results, target = Path(sys.argv[1]), Path(sys.argv[2])
total: Counter[str] = Counter()
files = words = 0
for path in sorted(results.glob("*/out/*.json")):
    data = json.loads(path.read_text(encoding="utf-8"))
    total.update(data["counts"])
    files += 1
    words += data["words"]
summary = {"files": files, "words": words, "top": dict(total.most_common(10))}
target.write_text(json.dumps(summary, indent=2) + "\n")
print(f"{files} files, {words} words; top: {', '.join(w for w, _ in total.most_common(5))}")
