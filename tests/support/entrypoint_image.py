"""An image with an ENTRYPOINT, built in podman from the local busybox image (no pull).

Its ENTRYPOINT prints a marker and exits 0 without running its arguments, so a task whose
``/bin/sh -c ...`` were handed to it would "succeed" with none of its outputs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.support.paths import cache_lock
from tests.support.podman import busybox_image, image_exists, podman

ENTRYPOINT_IMAGE = "localhost/superbatch-test/entrypoint:1"
ENTRYPOINT_MARKER = "the-image-entrypoint-ran"


def entrypoint_image(env: dict[str, str]) -> str:
    with cache_lock("entrypoint-image"):
        if image_exists(ENTRYPOINT_IMAGE, env=env):
            return ENTRYPOINT_IMAGE
        base = busybox_image(env)
        with tempfile.TemporaryDirectory() as context:
            (Path(context) / "Containerfile").write_text(
                f'FROM {base}\nENTRYPOINT ["/bin/echo", "{ENTRYPOINT_MARKER}"]\n'
            )
            podman("build", "-q", "-t", ENTRYPOINT_IMAGE, context, env=env)
        return ENTRYPOINT_IMAGE
