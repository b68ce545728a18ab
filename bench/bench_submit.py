"""Submitting 10,000 tasks to the Batch emulator in hold mode (tasks are stored, not run).

Prints, from one run:
- Batch requests used in total by ``AzureBatchBackend.submit`` (limit ceil(N/100) + 10);
- speed-up over adding tasks one request at a time (``create_task``, sequential; timed on
  a sample and scaled to N) (target >= 20x);
- time against the limit: the same pre-serialized collection bodies POSTed concurrently
  with a raw https client and a ready-made bearer token (target within 1.5x).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from bench._harness import bench_stack, ratio_line, timed, timed_raw_requests

from superbatch.azure.backend import AzureBatchBackend
from superbatch.azure.credentials import BATCH_SCOPE, default_credential
from superbatch.azure.submit import SUBMIT_CONCURRENCY, chunk_bodies
from superbatch.azure.tasks import serialized_bodies
from superbatch.azure.wire import wire_enum
from superbatch.model import ResolvedJob, TaskSpec

TASKS = 10_000
ONE_BY_ONE_SAMPLE = 300


def bench_job(job_id: str, count: int) -> ResolvedJob:
    return ResolvedJob(
        job_id=job_id,
        name="bench",
        image="docker.io/library/bench:1",  # not the stack registry: no lookup before submit
        tasks=tuple(
            TaskSpec(str(i), f"python /app/work.py --seed {i} out/{i}.json", env={"SEED": str(i)})
            for i in range(count)
        ),
        outputs=("out/*.json",),
        env={"MODE": "bench"},
    )


def raw_post(emulator: Any, job_id: str, bodies: list[bytes], token: str) -> float:
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json; odata=minimalmetadata",
        "Accept": "application/json",
    }
    path = f"/jobs/{job_id}/addtaskcollection?api-version=2025-06-01"

    def all_added(status: int, answer: bytes) -> bool:
        return status == 200 and all(
            wire_enum(v["status"]) == "success" for v in json.loads(answer)["value"]
        )

    return timed_raw_requests(
        emulator.url,
        str(emulator.ca_bundle),
        "POST",
        [(path, body) for body in bodies],
        headers=headers,
        threads=SUBMIT_CONCURRENCY,
        accept=all_added,
    )


def one_by_one(emulator: Any, backend: AzureBatchBackend, job: ResolvedJob) -> float:
    from azure.batch import models

    backend.batch.create_job(
        models.BatchJobCreateOptions(
            id=job.job_id, pool_info=models.BatchPoolInfo(pool_id=emulator.pool_id)
        )
    )
    bodies = [json.loads(body) for _, body in serialized_bodies(job, backend.outputs)]

    def add_all() -> None:
        for body in bodies:
            backend.batch.create_task(job.job_id, models.BatchTaskCreateOptions(body))

    seconds, _ = timed(add_all)
    return seconds


def main() -> int:
    with bench_stack(hold=True) as stack:
        emulator = stack.emulator
        assert emulator is not None  # bench_stack starts one unless told not to
        backend = AzureBatchBackend.from_outputs_file(stack.outputs_file)
        backend.submit(bench_job("warmup", 200))  # connections, token, emulator warm

        before = sum(emulator.requests.values())
        ours, _ = timed(lambda: backend.submit(bench_job("ours", TASKS)))
        requests = sum(emulator.requests.values()) - before
        assert len(emulator.tasks("ours")) == TASKS

        single = one_by_one(emulator, backend, bench_job("single", ONE_BY_ONE_SAMPLE))
        single_scaled = single / ONE_BY_ONE_SAMPLE * TASKS

        raw_job = bench_job("raw", TASKS)
        bodies = [c.body() for c in chunk_bodies(serialized_bodies(raw_job, backend.outputs))]
        from azure.batch import models

        backend.batch.create_job(
            models.BatchJobCreateOptions(
                id="raw", pool_info=models.BatchPoolInfo(pool_id=emulator.pool_id)
            )
        )
        token = default_credential().get_token(BATCH_SCOPE).token
        raw = raw_post(emulator, "raw", bodies, token)
        assert len(emulator.tasks("raw")) == TASKS

    limit = math.ceil(TASKS / 100) + 10
    print(
        f"submitting {TASKS} tasks (emulator over https, hold mode, {SUBMIT_CONCURRENCY} in flight)"
    )
    print(
        f"  superbatch submit (job, tasks, terminatejob): {ours:6.2f} s  {requests} Batch requests"
    )
    print(f"  one request per task (sampled {ONE_BY_ONE_SAMPLE}, scaled): {single_scaled:6.2f} s")
    print(f"  raw pre-serialized collections, concurrent:   {raw:6.2f} s")
    speedup, overhead = single_scaled / ours, ours / raw
    print(
        ratio_line(
            f"Batch requests (<= ceil(N/100)+10 = {limit})",
            requests,
            f"<= {limit}",
            requests <= limit,
        )
    )
    print(
        ratio_line("speed-up over one request per task (>= 20x)", speedup, ">= 20", speedup >= 20)
    )
    print(ratio_line("time vs raw concurrent POSTs (<= 1.5x)", overhead, "<= 1.5", overhead <= 1.5))
    return 0 if requests <= limit and speedup >= 20 and overhead <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
