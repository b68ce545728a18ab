"""Where a local job's tasks run: in the job's image (a working engine that has it) or on
this machine, and which engines may hold a job's containers when it is cancelled or cleaned."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from superbatch.engine import ENGINES, Engine, find_engine
from superbatch.errors import ConfigError
from superbatch.local.execute import ContainerRun
from superbatch.model import ResolvedJob

log = logging.getLogger("superbatch.local")


def choose_container(
    job: ResolvedJob, *, use_container: bool, engine_name: str | None, node_root: Path
) -> ContainerRun | None:
    """How tasks of ``job`` run: in its image (engine + image present) or on the host."""
    from superbatch.images.resolve import resolve_local_image

    # Refused as on Azure (untagged, `latest`), with or without a container here: the
    # spec that runs locally is the one that will run on Batch.
    image = None if job.image is None else resolve_local_image(job.image)
    plan: ContainerRun | None = None
    if use_container and image is not None:
        engine = find_engine(engine_name)  # explicit and not working: ConfigError
        if engine is None:
            log.warning(
                "no working container engine (docker or podman): running %s's tasks on "
                "this machine, not in %s",
                job.name,
                image,
            )
        elif engine.image_exists(image):
            plan = ContainerRun(engine, image, node_root)
        elif engine_name is not None:
            raise ConfigError(
                f"image {image} is not in {engine.name}'s local images: "
                f"{_get_image_hint(engine.name, image)} first, or use --no-container"
            )
        else:
            log.warning(
                "image %s is not in %s's local images: running tasks on this machine "
                "instead (%s to use it; --no-container to silence this)",
                image,
                engine.name,
                _get_image_hint(engine.name, image),
            )
    return plan


def engines_to_clean(engine_name: str | None) -> tuple[Engine, ...]:
    """The chosen engine, else every engine that answers (a run may have used either)."""
    names = (engine_name,) if engine_name is not None else ENGINES
    engines: tuple[Engine, ...] = ()
    for name in names:
        with contextlib.suppress(ConfigError):  # not installed or not answering: nothing
            engine = find_engine(name)
            if engine is not None:
                engines += (engine,)
    return engines


def _get_image_hint(engine: str, image: str) -> str:
    """How to get ``image`` into the engine: pull a registry's image, build a short name.
    ``localhost/...`` (no port) is where podman keeps images built on this machine: there is
    no registry to pull it from."""
    from superbatch.images.reference import parse_image_ref

    if parse_image_ref(image).registry not in (None, "localhost"):
        return f"pull it with `{engine} pull {image}`"
    return "build it with `superbatch image build`"
