"""Runs and their event logs: an agent runner holds a :class:`Run` (``runs.run``) and
appends events bound to the snapshot in force (``runs.events``); ``runs.listing`` lists
runs and ``runs.lint`` checks every event's snapshot reference.

The names below are re-exported lazily, so that importing ``runs.events`` stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_EXPORTS = {
    "Run": "run",
    "start_run": "run",
    "open_run": "run",
    "stage": "run",
    "checkpoint": "run",
    "append_decision": "run",
    "run_events": "run",
    "list_runs": "listing",
    "lint_events": "lint",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
