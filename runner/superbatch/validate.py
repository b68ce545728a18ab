"""Checks for single spec values, shared by the TOML loader and the Python API.

Every check raises :class:`SpecError` with one line that names the offending value and
says what is allowed. Rules follow Azure Batch's own (ids, durations), so a job that passes
here is never refused by Batch for its shape.
"""

from __future__ import annotations

import re
from datetime import timedelta

from superbatch.errors import SpecError

# Batch ids: letters, digits, '-', '_'; at most 64 chars. The job id is
# "<name>-<10 hex digits>", so a name may take 64 - 11 characters.
JOB_HASH_LENGTH = 10
MAX_NAME_LENGTH = 64 - 1 - JOB_HASH_LENGTH
_ID_RE = re.compile(r"[A-Za-z0-9_-]+")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
MAX_DURATION = timedelta(days=180)  # Batch's task lifetime limit
MAX_RETRIES = 100
RESERVED_ENV_PREFIX = "AZ_BATCH_"
LOGS_DIR = "_logs"  # results/<job>/<task>/_logs/ holds stdout.txt and stderr.txt
LOGS_PREFIX = f"{LOGS_DIR}/"


def check_name(value: object, *, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where}: name must be a non-empty string")
    if not _ID_RE.fullmatch(value):
        raise SpecError(
            f"{where}: name {value!r} may only hold letters, digits, '-' and '_' (Batch id rules)"
        )
    if len(value) > MAX_NAME_LENGTH:
        raise SpecError(
            f"{where}: name {value!r} is {len(value)} characters; at most {MAX_NAME_LENGTH} "
            "(the job id adds a 11-character hash and Batch ids stop at 64)"
        )
    return value


def is_valid_id(value: str) -> bool:
    return bool(_ID_RE.fullmatch(value)) and len(value) <= 64


def parse_duration(value: object, *, where: str) -> timedelta:
    """``"30m"``, ``"2h"``, ``"1h30m"``, ``"45s"``, ``"1d"`` -> timedelta (> 0, <= 180 days)."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f'{where}: timeout must be a string such as "30m", "2h" or "1h30m"')
    match = _DURATION_RE.fullmatch(value.strip())
    if match is None or not any(match.groups()):
        raise SpecError(
            f'{where}: timeout {value!r} is not a duration; write e.g. "45s", "30m", "2h", '
            '"1h30m" or "1d"'
        )
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if duration <= timedelta(0):
        raise SpecError(f"{where}: timeout {value!r} must be longer than zero")
    if duration > MAX_DURATION:
        raise SpecError(f"{where}: timeout {value!r} is longer than Batch's 180-day task limit")
    return duration


def format_duration(duration: timedelta) -> str:
    total = int(duration.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts) or "0s"


def check_retries(value: object, *, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}: retries must be a whole number from 0 to {MAX_RETRIES}")
    if not 0 <= value <= MAX_RETRIES:
        raise SpecError(f"{where}: retries {value} is out of range: use 0 to {MAX_RETRIES}")
    return value


_POOL_RE = re.compile(r"[a-z](?:[a-z0-9-]{0,14}[a-z0-9])?")  # infra/pools.py POOL_NAME
MAX_SLOTS = 256  # Batch's most task slots per node


def check_pool(value: object, *, where: str) -> str:
    """A pool name of the stack config ``pools`` (which pools exist is checked on submit)."""
    if not isinstance(value, str) or not _POOL_RE.fullmatch(value):
        raise SpecError(
            f'{where}: pool must be the name of one of the stack\'s pools, such as "big" '
            f"(lowercase letters, digits, inner hyphens; got {value!r})"
        )
    return value


def check_slots(value: object, *, where: str) -> int:
    """Task slots one task takes (Batch ``requiredSlots``): 1 to 256."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SLOTS:
        raise SpecError(
            f"{where}: slots must be a whole number from 1 to {MAX_SLOTS} (task slots one "
            f"task takes on a node; got {value!r})"
        )
    return value


def check_env_name(name: str, *, where: str) -> str:
    if not _ENV_NAME_RE.fullmatch(name):
        raise SpecError(
            f"{where}: {name!r} is not a valid environment variable name "
            "(letters, digits and '_', not starting with a digit)"
        )
    if name.upper().startswith(RESERVED_ENV_PREFIX):
        raise SpecError(f"{where}: {name!r} is reserved: Batch sets the AZ_BATCH_* variables")
    return name


def check_env(value: object, *, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SpecError(f'{where}: env must be a table of NAME = "value" strings')
    env: dict[str, str] = {}
    for name, item in value.items():
        check_env_name(str(name), where=where)
        if not isinstance(item, str):
            raise SpecError(f'{where}: env {name} must be a string (write {name} = "{item}")')
        env[str(name)] = item
    return env


def check_output_pattern(value: object, *, where: str) -> str:
    """A pattern relative to the task's working dir that cannot escape it."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: output patterns must be non-empty strings")
    if "\\" in value:
        raise SpecError(f"{where}: output pattern {value!r}: use '/' as the separator")
    if value.startswith("/"):
        raise SpecError(
            f"{where}: output pattern {value!r} is absolute; patterns are relative to the "
            "task's working directory"
        )
    if value.endswith("/") and value.strip("/"):
        folder = value.rstrip("/")
        raise SpecError(
            f"{where}: output pattern {value!r} names a folder: collect its files with "
            f'"{folder}/**/*"'
        )
    parts = value.split("/")
    if ".." in parts:
        raise SpecError(f"{where}: output pattern {value!r} escapes the working dir with '..'")
    if any(part in ("", ".") for part in parts):
        raise SpecError(f"{where}: output pattern {value!r} has an empty or '.' path segment")
    if parts[0] == LOGS_DIR:
        raise SpecError(f"{where}: output pattern {value!r}: {LOGS_DIR}/ is reserved for logs")
    return _same_everywhere(value, parts, where=where)


def _same_everywhere(value: str, parts: list[str], *, where: str) -> str:
    """Only forms that collect the same files on every backend (superbatch.patterns).

    - ``$``: Batch expands ``$var`` in file patterns on Linux before matching ("Environment
      variables (%var% on Windows or $var on Linux) are expanded prior to the pattern being
      applied", OutputFile.filePattern); a local run does not. Refused.
    - ``{a,b}``: brace lists are not among Batch's documented wildcards. Refused.
    - ``**`` inside a segment (``a**``, ``**.txt``): not a documented form. Refused.
    - a trailing ``**`` (``out/**``): Batch documents recursion only as ``**/*.txt``; it
      becomes ``out/**/*`` (every file below ``out``), the documented form, everywhere.
    """
    if "$" in value:
        raise SpecError(
            f"{where}: output pattern {value!r} has '$': Azure Batch expands $VARIABLES in "
            "output patterns and --local does not; name the files literally"
        )
    if "{" in value or "}" in value:
        raise SpecError(
            f"{where}: output pattern {value!r}: brace lists are not an Azure Batch wildcard; "
            "give one pattern per form"
        )
    if any("**" in part and part != "**" for part in parts):
        raise SpecError(
            f"{where}: output pattern {value!r}: '**' must be a whole path segment "
            "(e.g. out/**/*.txt)"
        )
    if parts[-1] == "**":
        return "/".join([*parts, "*"])
    return value


def check_string_list(value: object, *, key: str, where: str) -> list[str]:
    """A string or a list of strings (TOML allows both spellings for one item)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise SpecError(f"{where}: {key} must be a string or a list of non-empty strings")
    return list(items)
