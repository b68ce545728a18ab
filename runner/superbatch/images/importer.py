"""``image import``: a public image copied into the stack's registry by the registry itself.

Azure Container Registry's ``importImage`` ARM operation (REST reference "Registries -
Import Image", learn.microsoft.com/rest/api/containerregistry/registries/import-image):

    POST {arm}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry
         /registries/{name}/importImage?api-version=2023-07-01
    {"source": {"registryUri": "docker.io", "sourceImage": "library/busybox:1.36"},
     "targetTags": ["busybox:1.36"], "mode": "NoForce"}

answers ``200`` (done) or ``202`` (a long-running operation: poll ``Azure-AsyncOperation``
until its ``status`` is final, else ``Location`` until it stops answering 202, waiting what
``Retry-After`` says; ARM's documented async patterns). ``NoForce`` never overwrites a tag.

The caller needs ``Microsoft.ContainerRegistry/registries/importImage/action`` on the
registry: the built-in role "Container Registry Data Importer and Data Reader"
(577a9874-89fd-4f24-9dbd-b5034d0ad23a: importImage/action, pull/read, registries/read),
which ``infra/`` grants the deploying user. Nothing is pulled or pushed through this
machine, and Docker Hub's anonymous pull limits then apply to one import, not to every node.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from superbatch.errors import ConfigError, RemoteError, SpecError
from superbatch.images.http import Response, http_client, send
from superbatch.images.reference import ImageRef, parse_image_ref
from superbatch.images.registry import RegistryClient
from superbatch.images.resolve import stack_short_name

if TYPE_CHECKING:
    from azure.core import PipelineClient

    from superbatch.contract import StackOutputs
    from superbatch.images.tokens import TokenCredential

API_VERSION = "2023-07-01"
ARM_SCOPE = "https://management.azure.com/.default"
# Another Azure cloud (or a test's fake) serves ARM elsewhere.
ARM_ENDPOINT_VARIABLE = "SUPERBATCH_ARM_ENDPOINT"
IMPORTER_ROLE = "Container Registry Data Importer and Data Reader"
POLL_LIMIT_SECONDS = 600
FINAL_STATES = frozenset({"succeeded", "failed", "canceled"})


@dataclass(frozen=True)
class ImportedImage:
    source: str  # "docker.io/library/busybox:1.36"
    image: str  # "busybox:1.36": what a job spec names
    remote_ref: str  # "<registry>/busybox:1.36"
    digest: str
    imported: bool  # False when the stack's registry already held that tag

    @property
    def pinned_ref(self) -> str:
        return f"{self.remote_ref.rsplit(':', 1)[0]}@{self.digest}"


def registry_resource_id(outputs: StackOutputs) -> str:
    """The registry's ARM id from the stack outputs: the subscription of the node identity,
    the stack's resource group, and the registry name (the login server's first label)."""
    parts = outputs.node_identity_resource_id.strip("/").split("/")
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        raise ConfigError(
            f"stack output node_identity_resource_id {outputs.node_identity_resource_id!r} "
            "is not an Azure resource id: run `pulumi up`"
        )
    name = outputs.registry_login_server.split(".", 1)[0]
    return (
        f"/subscriptions/{parts[1]}/resourceGroups/{outputs.resource_group}"
        f"/providers/Microsoft.ContainerRegistry/registries/{name}"
    )


def import_source(text: str) -> ImageRef:
    """The image to import: a full reference with its registry and a tag (or digest)."""
    ref = parse_image_ref(text)
    if ref.registry is None:
        raise SpecError(
            f"image {text!r}: say which registry to import from, e.g. docker.io/library/"
            f"{ref.repository}:{ref.tag or '1'} (a short name already means the stack's)"
        )
    if ref.tag is None and ref.digest is None:
        raise SpecError(f"image {text!r}: give a tag or a digest to import")
    if ref.on_docker_hub and "/" not in ref.repository:
        ref = ImageRef("docker.io", f"library/{ref.repository}", ref.tag, ref.digest)
    return ref


def import_target(source: ImageRef, name: str | None) -> ImageRef:
    """The repository:tag in the stack's registry (``--as NAME:TAG``, default: the source's
    repository and tag, without Docker Hub's ``library/``)."""
    target = parse_image_ref(name) if name else stack_short_name(source)
    if target.registry is not None or target.digest is not None or target.tag is None:
        raise SpecError(f"--as {name!r}: give a short name with a tag, e.g. busybox:1.36")
    if target.tag == "latest":
        raise SpecError(
            "'latest' is a moving tag and nodes cache images by tag: import a versioned tag "
            "or name one with --as NAME:TAG"
        )
    return target


def _arm_error(response: Response) -> str:
    try:
        error = json.loads(response.body)["error"]
        return f"{error.get('code', '?')}: {error.get('message', '')}".strip()
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.body[:200].decode(errors="replace").strip() or "no details"


def _check(response: Response, what: str) -> None:
    if response.status in (401, 403):
        raise ConfigError(
            f"{what} refused ({_arm_error(response)}): your identity needs the "
            f"'{IMPORTER_ROLE}' role on the registry (`pulumi up` grants it to the deploying "
            "user; role changes take a few minutes)"
        )
    if response.status >= 400:
        raise RemoteError(f"{what} failed: HTTP {response.status}: {_arm_error(response)}")


def _wait(http: PipelineClient[Any, Any], first: Response, *, what: str) -> None:
    """Follow ARM's long-running operation that ``first`` (a 202) started, to its end."""
    status_url = first.headers.get("Azure-AsyncOperation")
    poll_url = status_url or first.headers.get("Location")
    if not poll_url:
        raise RemoteError(f"{what}: the answer 202 named no operation to follow")
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    answer = first
    while time.monotonic() < deadline:
        time.sleep(min(float(answer.headers.get("Retry-After") or 2), 30))
        answer = send(http, "GET", poll_url, what=what)
        _check(answer, what)
        if status_url is None:  # the Location pattern: 202 while running, then the result
            if answer.status != 202:
                return
            continue
        status = str(json.loads(answer.body or b"{}").get("status", "")).lower()
        if status == "succeeded":
            return
        if status in FINAL_STATES:
            raise RemoteError(f"{what} {status}: {_arm_error(answer)}")
    raise RemoteError(f"{what} did not finish within {POLL_LIMIT_SECONDS} s")


def import_image(
    source_text: str,
    outputs: StackOutputs,
    *,
    credential: TokenCredential,
    registry: RegistryClient,
    name: str | None = None,
) -> ImportedImage:
    """Import ``source_text`` into the stack's registry (unless its tag is there already)
    and return what the registry then holds, pinned by digest."""
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy

    source = import_source(source_text)
    target = import_target(source, name)
    login_server = outputs.registry_login_server
    remote_ref = f"{login_server}/{target.repository}:{target.tag}"
    assert target.tag is not None
    present = registry.manifest_digest(target.repository, target.tag)
    if present is not None:  # NoForce would refuse; tags are never moved anyway
        return ImportedImage(str(source), str(target), remote_ref, present, imported=False)
    arm = os.environ.get(ARM_ENDPOINT_VARIABLE, "https://management.azure.com").rstrip("/")
    url = f"{arm}{registry_resource_id(outputs)}/importImage?api-version={API_VERSION}"
    reference = f"@{source.digest}" if source.digest else f":{source.tag}"
    body = {
        "source": {"registryUri": source.registry, "sourceImage": source.repository + reference},
        "targetTags": [f"{target.repository}:{target.tag}"],
        "mode": "NoForce",
    }
    http = http_client(BearerTokenCredentialPolicy(credential, ARM_SCOPE))
    what = f"import of {source} into {login_server}"
    first = send(http, "POST", url, json_body=body, what=what)
    _check(first, what)
    if first.status == 202:
        _wait(http, first, what=what)
    digest = registry.manifest_digest(target.repository, target.tag)
    if digest is None:
        raise RemoteError(f"{what} finished, but {remote_ref} is not in the registry")
    return ImportedImage(str(source), str(target), remote_ref, digest, imported=True)
