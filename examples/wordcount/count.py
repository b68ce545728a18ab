"""Count the words of one text file: count.py INPUT OUTPUT.json"""

import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

source, target = Path(sys.argv[1]), Path(sys.argv[2])
min_length = int(os.environ.get("MIN_LENGTH", "1"))
words = re.findall(r"[a-z']+", source.read_text(encoding="utf-8").lower())
counts = Counter(w for w in words if len(w) >= min_length)
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(json.dumps({"file": source.name, "words": len(words), "counts": counts}))
print(f"{source.name}: {len(words)} words, {len(counts)} distinct")
