"""One error boundary: every mistake a user can fix is a SuperBatchError.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``;
``--debug`` shows the traceback. Library code raises, it never prints.
"""

from __future__ import annotations


class SuperBatchError(Exception):
    """Base class: a failure with a message a user can act on."""

    exit_code: int = 1


class SpecError(SuperBatchError):
    """The job spec (or the Python API call that builds it) is invalid."""

    exit_code = 2


class ConfigError(SuperBatchError):
    """Stack outputs, credentials or local setup are missing or wrong."""

    exit_code = 3


class RemoteError(SuperBatchError):
    """Azure (or a registry) refused or failed a request."""

    exit_code = 4


class EngineError(SuperBatchError):
    """The container engine (docker or podman) failed a build, tag, push or login: the
    engine's own last lines say why (a Dockerfile step, a full disk, a refused push)."""

    exit_code = 8


class JobNotFoundError(SuperBatchError):
    """No job with that id exists for this backend."""

    exit_code = 5


class TaskNotStartedError(JobNotFoundError):
    """The task exists but has not started, so it has nothing to show (``logs``)."""


class JobStuckError(SuperBatchError):
    """The job cannot progress: tasks wait and the pool says no node can come.

    ``status`` is the job's status at that moment (with its pool), for ``--json``.
    """

    exit_code = 7
    status: object = None
