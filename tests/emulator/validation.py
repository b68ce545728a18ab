"""What Batch checks before it accepts a job or a task, with its own codes and statuses.

Required properties and enum values come from the SDK's model metadata (:mod:`schema`);
the rules below are the service's documented ones that the swagger cannot express.
"""

from __future__ import annotations

import re
from typing import Any

from tests.emulator.errors import BatchServiceError, invalid_property, missing_property
from tests.emulator.schema import check_body

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(name: str, text: str) -> float:
    """Seconds in an ISO-8601 duration (``PT30M``, ``P1D``, ``PT0.5S``)."""
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise invalid_property(name, text, "not an ISO-8601 duration")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60
    ) + parts.get("s", 0)


def check_id(name: str, value: str) -> None:
    if not ID_PATTERN.match(value):
        raise invalid_property(
            name,
            value,
            "ids may contain letters, digits, hyphens and underscores, 1 to 64 characters",
        )


def validate_job(body: Any) -> None:
    import azure.batch.models as models

    check_body(models.BatchJobCreateOptions, body)
    check_id("id", body["id"])
    if not body["poolInfo"].get("poolId"):
        if body["poolInfo"].get("autoPoolSpecification"):
            raise invalid_property(
                "poolInfo.autoPoolSpecification", "...", "auto pools are not emulated"
            )
        raise missing_property("poolInfo.poolId")
    check_constraints("constraints", body.get("constraints"))


def validate_job_patch(body: Any) -> None:
    import azure.batch.models as models

    check_body(models.BatchJobUpdateOptions, body)
    check_constraints("constraints", body.get("constraints"))


def check_constraints(path: str, constraints: dict[str, Any] | None) -> None:
    if not constraints:
        return
    for name in ("maxWallClockTime", "retentionTime"):
        if name in constraints:
            parse_duration(f"{path}.{name}", constraints[name])
    retries = constraints.get("maxTaskRetryCount")
    if retries is not None and (not isinstance(retries, int) or retries < -1):
        raise invalid_property(f"{path}.maxTaskRetryCount", retries, "must be -1 or more")


def validate_task(body: Any, *, uses_task_dependencies: bool, max_slots: int) -> None:
    import azure.batch.models as models

    check_body(models.BatchTaskCreateOptions, body)
    check_id("id", body["id"])
    # "To use the default ENTRYPOINT ... set the task command line to the empty string"
    # (batch-docker-container-workloads): empty only for a container task
    if not body["commandLine"].strip() and not body.get("containerSettings"):
        raise invalid_property("commandLine", body["commandLine"], "must not be empty")
    check_constraints("constraints", body.get("constraints"))
    slots = body.get("requiredSlots", 1)
    if not isinstance(slots, int) or not 1 <= slots <= max_slots:
        raise invalid_property(
            "requiredSlots",
            slots,
            f"must be between 1 and the pool's taskSlotsPerNode ({max_slots})",
        )
    for index, resource in enumerate(body.get("resourceFiles") or []):
        _check_resource_file(f"resourceFiles[{index}]", resource)
    for index, output in enumerate(body.get("outputFiles") or []):
        _check_output_file(f"outputFiles[{index}]", output)
    depends_on = body.get("dependsOn")
    if depends_on and (depends_on.get("taskIds") or depends_on.get("taskIdRanges")):
        if not uses_task_dependencies:
            raise BatchServiceError(
                400,
                "TaskDependenciesNotSpecifiedOnJob",
                "A task was specified as depending on other tasks, but the job did not "
                "specify that it would use task dependencies.",
            )
        for index, id_range in enumerate(depends_on.get("taskIdRanges") or []):
            if id_range["start"] > id_range["end"]:
                raise invalid_property(
                    f"dependsOn.taskIdRanges[{index}]", id_range, "start must not exceed end"
                )


def _check_resource_file(path: str, resource: dict[str, Any]) -> None:
    sources = [
        key
        for key in ("storageContainerUrl", "httpUrl", "autoStorageContainerName")
        if resource.get(key)
    ]
    if len(sources) != 1:
        raise invalid_property(
            path,
            ",".join(sources) or "none",
            "exactly one of autoStorageContainerName, storageContainerUrl and httpUrl "
            "must be specified",
        )
    if resource.get("blobPrefix") and sources[0] == "httpUrl":
        raise invalid_property(
            f"{path}.blobPrefix",
            resource["blobPrefix"],
            "blobPrefix is only valid with autoStorageContainerName or storageContainerUrl",
        )
    if sources[0] == "httpUrl" and not resource.get("filePath"):
        raise missing_property(f"{path}.filePath")
    if sources[0] == "autoStorageContainerName":
        raise invalid_property(
            f"{path}.autoStorageContainerName",
            resource["autoStorageContainerName"],
            "the account has no auto-storage account linked",
        )
    file_path = resource.get("filePath") or ""
    if file_path.startswith("/") or ".." in file_path.split("/"):
        raise invalid_property(
            f"{path}.filePath", file_path, "must be relative to the task working directory"
        )


def _check_output_file(path: str, output: dict[str, Any]) -> None:
    container_url = output["destination"]["container"]["containerUrl"]
    if not re.match(r"^https?://[^/]+/.+", container_url):
        raise invalid_property(
            f"{path}.destination.container.containerUrl",
            container_url,
            "must be the URL of a blob container",
        )
