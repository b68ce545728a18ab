"""Imported at start-up by every Python process the tests start (``PYTHONPATH``, set by the
``batch_answers_come_from_batch`` fixture in tests/conftest.py): arms the Batch tripwire of
tests/support/batch_guard.py in runner subprocesses. Not a package: nothing imports it."""

import importlib.util
import os
from pathlib import Path

if os.environ.get("SUPERBATCH_TEST_BATCH_GUARD_LOG"):
    _spec = importlib.util.spec_from_file_location(
        "_superbatch_batch_guard", Path(__file__).resolve().parents[1] / "batch_guard.py"
    )
    if _spec is not None and _spec.loader is not None:
        _guard = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_guard)
        _guard.install_on_import()
