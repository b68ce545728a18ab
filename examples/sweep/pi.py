"""Estimate pi by sampling points in the unit square: pi.py --seed S --samples N"""

import argparse
import json
import os
import random

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--samples", type=int, required=True)
args = parser.parse_args()
rng = random.Random(args.seed)
inside = sum(rng.random() ** 2 + rng.random() ** 2 <= 1.0 for _ in range(args.samples))
estimate = 4.0 * inside / args.samples
# CSV columns also arrive as environment variables:
assert os.environ["seed"] == str(args.seed)
print(json.dumps({"seed": args.seed, "samples": args.samples, "pi": estimate}))
