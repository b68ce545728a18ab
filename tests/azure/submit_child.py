"""A runner process the resume tests can SIGKILL: ``python -m tests.azure.submit_child``.

Arguments: outputs file, data dir, task count, submit concurrency, staging concurrency.
Prints the staging and submission reports as JSON when it gets to the end.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from superbatch.azure.backend import AzureBatchBackend
from tests.azure.jobs import numbered_files_job


def main(argv: list[str]) -> int:
    outputs, data, count, submit_concurrency, staging_concurrency = argv
    job = numbered_files_job(Path(data), int(count))
    backend = AzureBatchBackend.from_outputs_file(
        Path(outputs),
        submit_concurrency=int(submit_concurrency),
        staging_concurrency=int(staging_concurrency),
    )
    backend.submit(job)
    staged = asdict(backend.last_staging) if backend.last_staging else None
    submitted = asdict(backend.last_submit) if backend.last_submit else None
    print(json.dumps({"staging": staged, "submit": submitted}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
