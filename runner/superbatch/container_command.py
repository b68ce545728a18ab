"""How a task's command runs in its image: the same ``docker create`` shape everywhere.

Every command runs as ``/bin/sh -c '<command>'``, on the host, in a local container and on
Azure Batch. An image's ENTRYPOINT would otherwise receive ``/bin/sh -c ...`` as its
arguments (Batch passes the task's command line to the image's ENTRYPOINT: "To override the
default ENTRYPOINT, add the ``--entrypoint`` argument" to ``containerRunOptions``, Microsoft
Learn, batch-docker-container-workloads). So the ENTRYPOINT is cleared, locally (``docker
run``/``podman run``) and on Azure (the task's ``containerRunOptions``), and the image's
ENTRYPOINT never runs on either: a command that needs it calls it by path.

``--entrypoint=`` is one token, so it means the same however the options string is split;
docker and podman both read an empty value as "no ENTRYPOINT".
"""

from __future__ import annotations

CLEAR_ENTRYPOINT = "--entrypoint="
SHELL = ("/bin/sh", "-c")
