from __future__ import annotations

import subprocess


def test_busybox_image_runs_as_plain_podman(podman_env: dict[str, str], busybox_image: str) -> None:
    out = subprocess.run(
        ["podman", "run", "--rm", "-e", "X=1", busybox_image, "/bin/sh", "-c", "echo $X; id -u"],
        env=podman_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["1", "0"]
