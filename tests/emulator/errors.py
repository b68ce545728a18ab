"""Batch's error envelope: ``{"odata.metadata", "code", "message": {lang, value}, "values"}``."""

from __future__ import annotations

from typing import Any

_ERRORS_METADATA = "Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"


class BatchServiceError(Exception):
    """An error answer: HTTP status, Batch error code, message and key/value details."""

    def __init__(self, status: int, code: str, message: str, **values: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.values = values

    def body(self, base_url: str) -> dict[str, Any]:
        """The whole answer body: the error with its OData metadata link first."""
        return {
            "odata.metadata": f"{base_url}/$metadata#{_ERRORS_METADATA}",
            **self.result_error(),
        }

    def result_error(self) -> dict[str, Any]:
        """The ``error`` member of an add-collection result (same shape, no metadata)."""
        error: dict[str, Any] = {
            "code": self.code,
            "message": {"lang": "en-US", "value": self.message},
        }
        if self.values:
            error["values"] = [{"key": k, "value": v} for k, v in self.values.items()]
        return error


def invalid_property(name: str, value: Any, reason: str) -> BatchServiceError:
    return BatchServiceError(
        400,
        "InvalidPropertyValue",
        "The value provided for one of the properties in the request body is invalid.",
        PropertyName=name,
        PropertyValue=str(value),
        Reason=reason,
    )


def missing_property(name: str) -> BatchServiceError:
    return BatchServiceError(
        400,
        "MissingRequiredProperty",
        "A required property was not specified in the request body.",
        PropertyName=name,
    )


def not_found(code: str, what: str) -> BatchServiceError:
    return BatchServiceError(404, code, f"The specified {what} does not exist.")
