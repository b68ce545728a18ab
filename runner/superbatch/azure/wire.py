"""Reading enum values that Batch sent: one place, case-insensitive.

Batch's casing differs enum by enum and between API versions: at 2025-06-01 real Batch
answers add-collection results with ``"status": "Success"`` and failure categories with
``"UserError"``, but task and job states with ``"active"``/``"completed"``. The SDK's models
compare enums case-insensitively; the runner reads some answers as raw JSON. Every enum the
runner reads (from raw JSON or from an SDK model, where an unknown casing stays a plain
string) goes through :func:`wire_enum` and is compared with the lower-case names below.
"""

from __future__ import annotations

from typing import Any


def wire_enum(value: Any) -> str:
    """The lower-cased wire value of an enum (a string or an SDK enum member; None -> "").

    ``"Success"``, ``"success"`` and ``BatchTaskAddStatus.SUCCESS`` all give ``"success"``.
    """
    return str(getattr(value, "value", value) or "").lower()
