"""Downloading 10,000 small result files: ours vs sequential vs Azurite's own ceiling.

The ceiling is pre-built GETs (bearer token and headers prepared before the clock starts)
over keep-alive https connections from as many threads as the runner uses, in the same run
(target: within 1.5x). Concurrent vs sequential (target >= 5x) runs behind a proxy adding
a 10 ms round trip, as ``bench_staging`` does: on loopback a lone client is as fast as 32.
``RESULT_FILES`` shrinks the job for a quick run (the sequential pass costs 10 ms a file).
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from bench._harness import bench_stack, latency_proxy, ratio_line, timed, timed_raw_requests

from superbatch.azure.credentials import STORAGE_SCOPE, container_client, default_credential
from superbatch.azure.download import DOWNLOAD_CONCURRENCY, download_job_outputs

ROUND_TRIP = 0.010


def main() -> int:
    count = int(os.environ.get("RESULT_FILES", "10000"))
    with bench_stack(emulator=False) as stack:
        credential = default_credential()
        url = f"{stack.azurite.blob_endpoint}/{stack.outputs_container}"
        container = container_client(url, credential)
        names = [f"job-1/{i}/out/result.json" for i in range(count)]
        body = b'{"value": 42, "note": "a small result file"}\n'
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda n: container.upload_blob(n, body, overwrite=True), names))
        token = credential.get_token(STORAGE_SCOPE).token
        path = urllib.parse.urlsplit(url).path
        headers = {"Authorization": f"Bearer {token}", "x-ms-version": "2025-11-05"}

        def ceiling() -> float:
            gets = [(f"{path}/{n}", b"") for n in names]
            return timed_raw_requests(
                url,
                str(stack.azurite.ca_bundle),
                "GET",
                gets,
                headers=headers,
                threads=DOWNLOAD_CONCURRENCY,
                accept=lambda status, _: status == 200,
            )

        def download(target_container: object, folder: str, **options: int) -> float:
            dest = stack.workdir / folder
            seconds, report = timed(
                lambda: download_job_outputs(target_container, "job-1", dest, **options)  # type: ignore[arg-type]
            )
            assert report.downloaded == count, report
            shutil.rmtree(dest)
            return seconds

        ceiling()  # warm up
        raw = ceiling()
        ours = download(container, "a")
        with latency_proxy(stack.azurite.port, ROUND_TRIP / 2) as port:
            far = container_client(url.replace(f":{stack.azurite.port}/", f":{port}/"), credential)
            far_ours = download(far, "b")
            sequential = download(far, "c", concurrency=1)

    print(f"downloading {count} small result files (https Azurite, {DOWNLOAD_CONCURRENCY} threads)")
    print(f"  Azurite ceiling (raw pre-built GETs): {raw:6.2f} s  {count / raw:7.0f} files/s")
    print(f"  superbatch download_job_outputs:      {ours:6.2f} s  {count / ours:7.0f} files/s")
    print(f"behind a {ROUND_TRIP * 1000:.0f} ms round trip:")
    print(f"  superbatch:                           {far_ours:6.2f} s")
    print(f"  sequential (same code, 1 thread):     {sequential:6.2f} s")
    speedup, overhead = sequential / far_ours, ours / raw
    print(ratio_line("speed-up over sequential (>= 5x)", speedup, ">= 5", speedup >= 5))
    print(ratio_line("time vs Azurite's ceiling (<= 1.5x)", overhead, "<= 1.5", overhead <= 1.5))
    return 0 if speedup >= 5 and overhead <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
