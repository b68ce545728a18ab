"""The local backend: a Batch-like node on this machine."""

from superbatch.local.backend import LocalBackend

__all__ = ["LocalBackend"]
