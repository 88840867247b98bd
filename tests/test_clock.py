"""clock.py: one timestamp format, the clock that writes it, and the run-id stamp."""

from __future__ import annotations

import contextlib
import datetime
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import REPO_ROOT
from hypothesis import given
from hypothesis import strategies as st

from speckit_git_policy import clock
from speckit_git_policy.ids import check_run_id
from speckit_git_policy.runs.events import new_run_id

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
LAST_MICROSECOND = (
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.timezone.utc) - EPOCH
) // datetime.timedelta(microseconds=1)
_gmtime = time.gmtime
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@contextlib.contextmanager
def at(microseconds: int) -> Iterator[None]:
    """Stop the clock at ``microseconds`` after the epoch."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time_ns", lambda: microseconds * 1000)
        patch.setattr(
            time,
            "gmtime",
            lambda seconds=None: _gmtime(microseconds // 1_000_000 if seconds is None else seconds),
        )
        yield


@given(st.integers(0, LAST_MICROSECOND))
def test_now_writes_what_datetime_would(microseconds: int) -> None:
    with at(microseconds):
        stamp = clock.now()
    expected = EPOCH + datetime.timedelta(microseconds=microseconds)
    assert stamp == expected.strftime(clock.FORMAT)
    assert clock.parse(stamp) == expected


@given(st.integers(0, LAST_MICROSECOND), st.integers(0, LAST_MICROSECOND))
def test_text_order_is_time_order(first: int, second: int) -> None:
    with at(first):
        a = clock.now()
    with at(second):
        b = clock.now()
    assert (a < b) == (first < second) and (a == b) == (first == second)


def test_now_is_utc_now() -> None:
    before = datetime.datetime.now(datetime.timezone.utc)
    stamp = clock.now()
    after = datetime.datetime.now(datetime.timezone.utc)
    assert TIMESTAMP.fullmatch(stamp)
    assert before.replace(microsecond=0) <= clock.parse(stamp) <= after


@given(st.integers(0, LAST_MICROSECOND - 1), st.integers(-(10**12), 10**12))
def test_after_is_strictly_after_last_and_never_before_now(last: int, skew: int) -> None:
    now = min(max(last + skew, 0), LAST_MICROSECOND)
    with at(last):
        previous = clock.now()
    with at(now):
        stamp = clock.after(previous)
        assert clock.after(None) == clock.now()
    assert stamp > previous
    expected = max(now, last + 1)
    assert clock.parse(stamp) == EPOCH + datetime.timedelta(microseconds=expected)


def test_after_a_tie_or_a_clock_gone_backwards() -> None:
    with at(1_000_000):
        assert clock.after("1970-01-01T00:00:01.000000Z") == "1970-01-01T00:00:01.000001Z"
        assert clock.after("2999-01-01T00:00:00.999999Z") == "2999-01-01T00:00:01.000000Z"
        assert clock.after("not a time") == "1970-01-01T00:00:01.000000Z"  # ignored, as before


@pytest.mark.parametrize(
    "text",
    ["2026-01-12T10:30:00Z", "2026-01-12 10:30:00.000000Z", "2026-01-12T10:30:00.000000+00:00", ""],
)
def test_parse_refuses_other_spellings(text: str) -> None:
    with pytest.raises(ValueError):
        clock.parse(text)


def test_now_datetime_is_aware_utc() -> None:
    value = clock.now_datetime()
    assert value.tzinfo is not None and value.utcoffset() == datetime.timedelta(0)


def test_run_ids_carry_the_stamp_and_are_valid() -> None:
    with at(1_768_213_800_123_456):  # 2026-01-12T10:30:00.123456Z
        assert clock.run_stamp() == "20260112T103000Z"
    run_id = new_run_id()
    assert check_run_id(run_id) == run_id
    assert re.fullmatch(r"run-\d{8}T\d{6}Z-[0-9a-f]{8}", run_id)


def test_a_stamp_costs_no_datetime_import() -> None:
    """The post-commit hook stamps snapshots and bindings: datetime stays unloaded."""
    code = (
        "import sys; from speckit_git_policy import clock; clock.now(); clock.after(None); "
        "clock.run_stamp(); print('datetime' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO_ROOT)},
    ).stdout
    assert out.strip() == "False"


@given(
    st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31))
)
def test_parse_reads_what_now_writes_as_strptime_does(moment: datetime.datetime) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if len(text) == 27:  # years before 1000 are not zero-padded by every strftime
        expected = datetime.datetime.strptime(text, clock.FORMAT).replace(
            tzinfo=datetime.timezone.utc
        )
        assert clock.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-01T00:00:00.000000Z",
        "2026-02-30T00:00:00.000000Z",
        "2026-01-01T24:00:00.000000Z",
        "2026-01-01T00:00:60.000000Z",
        "0000-01-01T00:00:00.000000Z",
        "2026-01-01T00:00:00.00000٣Z",
        "2026-01-01 00:00:00.000000Z",
        "2026-1-1T0:0:0.1Z",
        "",
    ],
)
def test_parse_refuses_or_reads_as_strptime_does(text: str) -> None:
    try:
        expected = datetime.datetime.strptime(text, clock.FORMAT).replace(
            tzinfo=datetime.timezone.utc
        )
    except ValueError:
        with pytest.raises(ValueError):
            clock.parse(text)
    else:
        assert clock.parse(text) == expected
