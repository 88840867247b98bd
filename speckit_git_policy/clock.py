"""The one clock and timestamp format: UTC with microseconds, ``2026-01-12T10:30:00.123456Z``.

Snapshots (``created_at``), bindings (``bound_at``) and run events (``timestamp``)
all carry this text. Fixed width, so comparing two timestamps as text compares
them in time (which ``list`` and a run log's merge rely on).

The post-commit hook stamps a snapshot and a binding: ``now()`` is built from
``time.time_ns()`` and ``time.gmtime`` because importing ``datetime`` would cost
the hook more than the stamp; ``parse`` (maintenance commands) imports it on first use.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the same text, as strftime/strptime spell it


def _format(microseconds: int) -> str:
    seconds, fraction = divmod(microseconds, 1_000_000)
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        t.tm_year,
        t.tm_mon,
        t.tm_mday,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        fraction,
    )


def _now_microseconds() -> int:
    return time.time_ns() // 1000


def now() -> str:
    """The current UTC time, e.g. ``2026-01-12T10:30:00.123456Z``."""
    return _format(_now_microseconds())


def after(last: str | None) -> str:
    """``now()``, but strictly after ``last`` (one microsecond after it when the clock
    has not moved past it, or went backwards): a merge orders a run's events by
    timestamp, so one writer's events must never tie or go backwards. A ``last``
    that does not parse is ignored."""
    current = _now_microseconds()
    if last is not None:
        try:
            previous = parse(last)
        except ValueError:
            return _format(current)
        import datetime

        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        last_microseconds = (previous - epoch) // datetime.timedelta(microseconds=1)
        if current <= last_microseconds:
            current = last_microseconds + 1
    return _format(current)


def now_datetime() -> datetime.datetime:
    """The current time as an aware UTC datetime (for arithmetic on ages)."""
    import datetime

    return datetime.datetime.now(datetime.timezone.utc)


def parse(text: str) -> datetime.datetime:
    """A timestamp in ``FORMAT`` as an aware UTC datetime; ValueError otherwise."""
    import datetime

    if _fixed_width(text):
        # What now() writes: fromisoformat reads it as strptime does, without importing
        # _strptime (a run append reads its last event's time).
        parsed = datetime.datetime.fromisoformat(text[:-1])
    else:
        parsed = datetime.datetime.strptime(text, FORMAT)
    return parsed.replace(tzinfo=datetime.timezone.utc)


def _fixed_width(text: str) -> bool:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in ASCII digits (the ranges are checked by the parse)."""
    return (
        len(text) == 27
        and text.isascii()
        and text[4] + text[7] + text[10] + text[13] + text[16] + text[19] + text[26] == "--T::.Z"
        and (
            text[:4]
            + text[5:7]
            + text[8:10]
            + text[11:13]
            + text[14:16]
            + text[17:19]
            + text[20:26]
        ).isdigit()
    )


def run_stamp() -> str:
    """The time part of a new run id, to the second: ``20260112T103000Z``."""
    t = time.gmtime()
    return "%04d%02d%02dT%02d%02d%02dZ" % (
        t.tm_year,
        t.tm_mon,
        t.tm_mday,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
    )
