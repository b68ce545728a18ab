"""Required fields, wire names and enum values, read from the azure-batch SDK's own models.

The generated models carry each field's wire name (``rest_field(name=...)``) and whether it
is required (its annotation is not ``Optional``). Walking them gives the emulator the same
list of required properties as the service's swagger, without a hand-written copy.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

from tests.emulator.errors import invalid_property, missing_property


@dataclass(frozen=True)
class Field:
    wire_name: str
    required: bool
    model: type | None  # nested model (or list element model)
    is_list: bool
    enum: type[enum.Enum] | None


def _unwrap(annotation: Any) -> tuple[bool, Any]:
    """(optional, inner annotation) for ``Optional[X]`` / ``X``."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if (origin is typing.Union or origin is types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return True, rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
    return False, annotation


def _model_and_enum(annotation: Any) -> tuple[type | None, bool, type[enum.Enum] | None]:
    is_list = typing.get_origin(annotation) is list
    if is_list:
        annotation = typing.get_args(annotation)[0]
    candidates = typing.get_args(annotation) or (annotation,)
    model = next((c for c in candidates if isinstance(c, type) and hasattr(c, "_is_model")), None)
    enum_type = next(
        (c for c in candidates if isinstance(c, type) and issubclass(c, enum.Enum)), None
    )
    return model, is_list, enum_type


@functools.cache
def fields(model: type) -> dict[str, Field]:
    """Wire name -> :class:`Field` for an SDK model class."""
    import azure.batch.models as models

    typing.cast(Any, model).__new__(model)  # the SDK fills in _attr_to_rest_field here
    hints = typing.get_type_hints(model, localns={"_models": models})
    result: dict[str, Field] = {}
    for attr, rest_field in model._attr_to_rest_field.items():  # type: ignore[attr-defined]
        optional, inner = _unwrap(hints[attr])
        nested, is_list, enum_type = _model_and_enum(inner)
        name = rest_field._rest_name
        result[name] = Field(name, not optional, nested, is_list, enum_type)
    return result


def check_body(model: type, body: Any, path: str = "") -> None:
    """Raise Batch's error for the first missing required property or bad enum value."""
    if not isinstance(body, dict):
        raise invalid_property(path or "body", body, "expected a JSON object")
    for name, field in fields(model).items():
        where = f"{path}.{name}" if path else name
        value = body.get(name)
        if value is None:
            if field.required:
                raise missing_property(where)
            continue
        if field.is_list:
            if not isinstance(value, list):
                raise invalid_property(where, value, "expected a list")
            items = value
        else:
            items = [value]
        for item in items:
            if field.model is not None:
                check_body(field.model, item, where)
            elif field.enum is not None:
                allowed = {str(member.value).lower() for member in field.enum}
                if str(item).lower() not in allowed:
                    raise invalid_property(where, item, f"must be one of {sorted(allowed)}")
