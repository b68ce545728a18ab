"""Staging 2,000 small files: ours vs sequential uploads vs Azurite's own ceiling.

Azurite's ceiling is measured in the same run: pre-built PUT requests (bearer token,
headers, bodies all prepared before the clock starts) sent over keep-alive https
connections from as many threads as the runner uses. Target: within 1.5x of it.

Concurrent vs sequential (target >= 5x) is measured behind a proxy adding a 10 ms round
trip: on bare loopback one Azurite process answers a lone client about as fast as it
answers 32, so both would just measure Azurite; with real network latency, which is what
users have, concurrency is what makes staging fast. Both runs use the same code.
"""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from bench._harness import bench_stack, latency_proxy, ratio_line, timed, timed_raw_requests

from superbatch.azure.credentials import STORAGE_SCOPE, container_client, default_credential
from superbatch.azure.staging import STAGING_CONCURRENCY, StagingReport, stage_inputs
from superbatch.model import InputFile, ResolvedJob, TaskSpec

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

FILES = 2000
ROUND_TRIP = 0.010


def small_files_job(data: Path, job_id: str, count: int = FILES) -> ResolvedJob:
    data.mkdir(parents=True, exist_ok=True)
    tasks = []
    for index in range(count):
        source = data / f"{index}.txt"
        source.write_text(f"small input number {index}\n" * 4)
        tasks.append(TaskSpec(str(index), "true", inputs=(InputFile(source, "in.txt"),)))
    return ResolvedJob(
        job_id=job_id,
        name="stage",
        image="docker.io/library/busybox:1.36",
        tasks=tuple(tasks),
        outputs=(),
    )


def raw_ceiling(container_url: str, ca_bundle: str, token: str, count: int, threads: int) -> float:
    container_path = urllib.parse.urlsplit(container_url).path
    body = b"x" * 100
    headers = {
        "Authorization": f"Bearer {token}",
        "x-ms-blob-type": "BlockBlob",
        "x-ms-version": "2025-11-05",
        "Content-Length": str(len(body)),
        "Content-Type": "application/octet-stream",
    }
    puts = [(f"{container_path}/ceiling/{i}.txt", body) for i in range(count)]
    return timed_raw_requests(
        container_url,
        ca_bundle,
        "PUT",
        puts,
        headers=headers,
        threads=threads,
        accept=lambda status, _: status == 201,
    )


def main() -> int:
    with bench_stack(emulator=False) as stack:
        credential = default_credential()
        inputs_url = f"{stack.azurite.blob_endpoint}/{stack.inputs_container}"
        container = container_client(inputs_url, credential)
        token = credential.get_token(STORAGE_SCOPE).token
        ca = str(stack.azurite.ca_bundle)
        raw_ceiling(inputs_url, ca, token, 200, STAGING_CONCURRENCY)  # warm up Azurite

        def stage(
            target: ContainerClient, name: str, **options: int
        ) -> tuple[float, StagingReport]:
            """Seconds to write job ``job-<name>``'s files and stage them into ``target``."""
            folder = stack.workdir / name
            return timed(
                lambda: stage_inputs(target, small_files_job(folder, f"job-{name}"), **options)
            )

        ceiling = raw_ceiling(inputs_url, ca, token, FILES, STAGING_CONCURRENCY)
        ours, report = stage(container, "a")
        loopback_sequential, _ = stage(container, "b", concurrency=1)
        assert report.uploaded == FILES, report
        with latency_proxy(stack.azurite.port, ROUND_TRIP / 2) as port:
            far_url = inputs_url.replace(f":{stack.azurite.port}/", f":{port}/")
            far = container_client(far_url, credential)
            far_ours, _ = stage(far, "c")
            sequential, _ = stage(far, "d", concurrency=1)
        # Re-staging the same job: everything is skipped after one listing.
        rerun, again = stage(container, "a")
        assert again.skipped == FILES and again.uploaded == 0, again

    print(
        f"staging {FILES} small files (https Azurite, bearer tokens, {STAGING_CONCURRENCY} threads)"
    )
    print(
        f"  Azurite ceiling (raw pre-built PUTs): {ceiling:6.2f} s  {FILES / ceiling:7.0f} files/s"
    )
    print(f"  superbatch stage_inputs:             {ours:6.2f} s  {FILES / ours:7.0f} files/s")
    print(f"  sequential, loopback (same code, 1): {loopback_sequential:6.2f} s")
    print(f"  re-run, all present (skipped):       {rerun:6.2f} s")
    print(f"behind a {ROUND_TRIP * 1000:.0f} ms round trip:")
    print(
        f"  superbatch stage_inputs:             {far_ours:6.2f} s  {FILES / far_ours:7.0f} files/s"
    )
    print(
        f"  sequential uploads (same code, 1):   {sequential:6.2f} s"
        f"  {FILES / sequential:7.0f} files/s"
    )
    speedup, overhead = sequential / far_ours, ours / ceiling
    print(ratio_line("speed-up over sequential (>= 5x)", speedup, ">= 5", speedup >= 5))
    print(ratio_line("time vs Azurite ceiling (<= 1.5x)", overhead, "<= 1.5", overhead <= 1.5))
    return 0 if speedup >= 5 and overhead <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
