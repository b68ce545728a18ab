"""Deleting a job on Azure (the Batch job and its blobs), and finding the files a deleted
job left behind."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from superbatch.azure.errors import call_with_retries, translate_azure_error
from superbatch.errors import RemoteError, SuperBatchError

if TYPE_CHECKING:
    from azure.batch import BatchClient
    from azure.storage.blob import ContainerClient


def delete_job(client: BatchClient, job_id: str) -> None:
    """Delete the job and wait until Batch has; a job already gone is fine."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        poller = client.begin_delete_job(job_id, polling_interval=1)
        poller.result()
    except ResourceNotFoundError:
        return  # already gone
    except Exception as exc:
        raise translate_azure_error(exc, action=f"delete job {job_id}") from exc
    if poller.status() != "Succeeded":  # the SDK's poller turns errors into "Failed"
        raise RemoteError(
            f"deleting job {job_id} did not finish (Batch: {poller.status()}): "
            f"run `superbatch clean {job_id}` again"
        )


def delete_job_blobs(container: ContainerClient, job_id: str) -> int:
    """Delete every blob of the job (``<job>/``, ``_logs/<job>/``); returns how many."""
    from superbatch.azure.download import job_blob_prefixes

    try:
        names = [
            blob.name
            for prefix in job_blob_prefixes(job_id)
            for blob in container.list_blobs(name_starts_with=prefix)
        ]
        for start in range(0, len(names), 256):  # one batch request per 256 blobs
            batch = names[start : start + 256]
            try:
                container.delete_blobs(*batch)
            except Exception:  # batch API not available (older emulators): one by one
                for name in batch:
                    container.delete_blob(name)
    except Exception as exc:
        raise translate_azure_error(
            exc, action=f"delete the blobs of job {job_id}", service="storage"
        ) from exc
    return len(names)


def has_stored_files(containers: list[ContainerClient], job_id: str) -> bool:
    """Any blob under ``<job>/`` in ``containers`` (False when storage cannot be read)."""

    from superbatch.azure.download import job_blob_prefixes

    def any_blob(container: ContainerClient) -> bool:
        return any(
            next(iter(container.list_blobs(name_starts_with=p, results_per_page=1)), None)
            is not None
            for p in job_blob_prefixes(job_id)
        )

    try:
        return any(
            call_with_retries(
                functools.partial(any_blob, container),
                action=f"look for the files of job {job_id}",
                service="storage",
            )
            for container in containers
        )
    except SuperBatchError:
        return False  # e.g. no storage role: the job is simply reported not found
