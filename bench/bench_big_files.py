"""A big file staged and downloaded back: parallel blocks vs one stream of the same code.

Both runs go through a loopback proxy adding a 10 ms round trip (``latency_proxy``): on bare
loopback one stream is as fast as Azurite, so only real latency shows what parallel blocks
buy a user on a laptop far from the region. Target: >= 4x both ways. ``BIG_FILE_MB``
shrinks the file for a quick run (default 1024 = 1 GiB).
"""

from __future__ import annotations

import os
import sys

from bench._harness import bench_stack, latency_proxy, ratio_line, timed

from superbatch.azure.big_blobs import BLOCK_CONCURRENCY, download_in_ranges, upload_in_blocks
from superbatch.azure.blob_get import lean_getter
from superbatch.azure.credentials import container_client, default_credential
from superbatch.digest import file_sha256

ROUND_TRIP = 0.010


def main() -> int:
    size = int(os.environ.get("BIG_FILE_MB", "1024")) << 20
    streams = int(os.environ.get("BLOCK_STREAMS", str(BLOCK_CONCURRENCY)))
    with bench_stack(emulator=False) as stack:
        source = stack.workdir / "big.bin"
        with source.open("wb") as sink:
            for _ in range(size // (8 << 20)):
                sink.write(os.urandom(8 << 20))
        sha = file_sha256(source)
        credential = default_credential()
        url = f"{stack.azurite.blob_endpoint}/{stack.inputs_container}"
        near = container_client(url, credential)
        loopback, _ = timed(
            lambda: upload_in_blocks(
                near.get_blob_client("near.bin"),
                source,
                size=size,
                sha256=sha,
                metadata={},
                concurrency=streams,
            )
        )
        with latency_proxy(stack.azurite.port, ROUND_TRIP / 2) as port:
            far = container_client(url.replace(f":{stack.azurite.port}/", f":{port}/"), credential)

            def up(name: str, streams: int) -> float:
                blob = far.get_blob_client(name)
                seconds, _ = timed(
                    lambda: upload_in_blocks(
                        blob, source, size=size, sha256=sha, metadata={}, concurrency=streams
                    )
                )
                return seconds

            getter = lean_getter(far.url, credential)  # as `superbatch results` reads

            def down(name: str, streams: int) -> float:
                blob = far.get_blob_client(name)
                etag = blob.get_blob_properties().etag.strip('"')
                target = stack.workdir / f"{name}.back"
                seconds, _ = timed(
                    lambda: download_in_ranges(
                        blob,
                        target,
                        size=size,
                        etag=etag,
                        sha256=sha,
                        concurrency=streams,
                        getter=getter,
                    )
                )
                target.unlink()
                return seconds

            up_ours, up_one = up("a.bin", streams), up("b.bin", 1)
            down_ours, down_one = down("a.bin", streams), down("b.bin", 1)

    mb = size / (1 << 20)
    print(f"a {mb:.0f} MiB file, {streams} streams (https Azurite)")
    print(
        f"  upload on bare loopback (Azurite's and this machine's ceiling): {loopback:6.2f} s"
        f" {mb / loopback:7.1f} MiB/s"
    )
    print(f"behind a {ROUND_TRIP * 1000:.0f} ms round trip:")
    for label, ours, one in (("upload", up_ours, up_one), ("download", down_ours, down_one)):
        print(
            f"  {label:<9} parallel blocks: {ours:7.2f} s {mb / ours:7.1f} MiB/s"
            f"   one stream (same code): {one:7.2f} s {mb / one:7.1f} MiB/s"
        )
    ok = True
    for label, ours, one in (("upload", up_ours, up_one), ("download", down_ours, down_one)):
        ratio = one / ours
        ok &= ratio >= 4
        print(
            ratio_line(
                f"{label}: parallel blocks over one stream (>= 4x)", ratio, ">= 4", ratio >= 4
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
