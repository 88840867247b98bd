"""Who and where every event says (docs/DESIGN.md §6), the usage event, and refresh."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from speckit_git_policy import __version__
from speckit_git_policy.errors import BadInput
from speckit_git_policy.runs.events import correlation_ids, traceparent_trace_id
from speckit_git_policy.runs.run import Run, start_run

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_every_event_carries_actor_host_and_tool_version(
    policy_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SPECKIT_TRACE_ID", "SPECKIT_SESSION_ID", "TRACEPARENT"):
        monkeypatch.delenv(name, raising=False)
    run = start_run(policy_repo, "origin-1")
    run.stage("plan")
    for event in run.events():
        assert event["actor"] == "Cy Committer <cy@example.com>"  # the committer, as capsule commits
        assert event["host"]
        assert event["tool_version"] == __version__
        assert "trace_id" not in event and "session_id" not in event


def test_trace_and_session_ids_given_or_from_the_environment(
    policy_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = start_run(policy_repo, "origin-2", trace_id="t-1", session_id="s-1")
    assert {(e["trace_id"], e["session_id"]) for e in run.events()} == {("t-1", "s-1")}
    monkeypatch.setenv("TRACEPARENT", TRACEPARENT)
    monkeypatch.setenv("SPECKIT_SESSION_ID", "claude-session-9")
    event = Run.open(policy_repo, "origin-2").checkpoint("later")
    assert event["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert event["session_id"] == "claude-session-9"
    monkeypatch.setenv("SPECKIT_TRACE_ID", "explicit")
    assert Run.open(policy_repo, "origin-2").checkpoint("again")["trace_id"] == "explicit"


@pytest.mark.parametrize("value", ["", "a b", "x\x1b[31m", "y" * 129])
def test_a_bad_trace_id_is_refused(value: str) -> None:
    with pytest.raises(BadInput):
        correlation_ids(value, None, {})
    with pytest.raises(BadInput):
        correlation_ids(None, None, {"SPECKIT_TRACE_ID": value} if value else {"SPECKIT_SESSION_ID": "a b"})


@pytest.mark.parametrize("header", [None, "", "garbage", "00-xyz-00f067aa0ba902b7-01",
                                    "00-" + "0" * 32 + "-00f067aa0ba902b7-01"])
def test_a_foreign_traceparent_of_another_form_is_ignored(header: str | None) -> None:
    assert traceparent_trace_id(header) is None
    assert correlation_ids(None, None, {"TRACEPARENT": header} if header else {}) == {}


def test_usage_is_recorded_under_the_snapshot_in_force(policy_repo: Path) -> None:
    run = start_run(policy_repo, "usage-1")
    event = run.usage({"stage": "plan", "role": "architect", "api": "openai.chat.completions",
                       "model_requested": "gpt-4o", "model_served": "gpt-4o-2024", "input_tokens": 10,
                       "output_tokens": 5, "cost": None, "cost_reason": "no [pricing] table",
                       "streamed": False, "complete": True, "request_id": None, "usage": {}})
    assert event["type"] == "UsageRecorded" and event["policy_id"] == run.policy_id
    assert run.events()[-1]["input_tokens"] == 10
    with pytest.raises(BadInput):
        run.usage({"stage": "plan"})


def test_refresh_reads_only_what_others_appended(policy_repo: Path) -> None:
    mine = start_run(policy_repo, "refresh-1")
    assert mine.refresh() == ([], False)
    other = Run.open(policy_repo, "refresh-1")
    other.stage("plan")
    other.checkpoint("x")
    new, reset = mine.refresh()
    assert not reset and [e["seq"] for e in new] == [1, 2]
    assert mine.current_stage == "plan" and mine.length == 3
    assert mine.refresh() == ([], False)


def test_threads_sharing_one_run_lose_no_event(policy_repo: Path) -> None:
    run = start_run(policy_repo, "threads-1")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(3):
                run.checkpoint(f"t{n}-{i}")
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    events = Run.open(policy_repo, "threads-1").events()
    assert [e["seq"] for e in events] == list(range(25))
    assert len({e.get("label") for e in events[1:]}) == 24
