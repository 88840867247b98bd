"""runs/records.py: the event read from the capsule is checked, field by field, before use."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from speckit_git_policy import runs
from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.errors import SnapshotCorrupt
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.runs.events import LogState, parse_event
from speckit_git_policy.runs.lint import lint_events
from speckit_git_policy.runs.records import PolicyInForce, check_event
from speckit_git_policy.store import Stores

GOOD = {"event_id": "e", "seq": 0, "timestamp": "2026-01-12T10:30:00.000000Z", "type": "Checkpoint"}


def test_a_minimal_event_is_accepted_and_unknown_fields_kept() -> None:
    event = check_event({**GOOD, "added_later": [1]}, "here")
    assert event["event_id"] == "e" and event["seq"] == 0
    assert dict(event)["added_later"] == [1]
    assert PolicyInForce.of_event(event) is None


@pytest.mark.parametrize(("value", "reason"), [
    ([GOOD], "not a JSON object"),
    ({k: v for k, v in GOOD.items() if k != "event_id"}, "has no event_id"),
    ({k: v for k, v in GOOD.items() if k != "type"}, "has no type"),
    ({**GOOD, "seq": "0"}, "'seq' holds text"),
    ({**GOOD, "seq": True}, "'seq' holds a boolean"),
    ({**GOOD, "seq": 1.5}, "'seq' holds a number"),
    ({**GOOD, "policy_id": None}, "'policy_id' holds null"),
    ({**GOOD, "commit": 7}, "'commit' holds a number"),
    ({**GOOD, "policy_changed": "yes"}, "'policy_changed' holds text"),
    ({**GOOD, "payload": {"prompt": 1}}, "'payload' is not an object of texts"),
    ({**GOOD, "dropped": [None]}, "'dropped' is not a list of texts"),
    ({**GOOD, "decision": []}, "'decision' holds a list"),
])
def test_malformed_events_are_refused_naming_where(value: object, reason: str) -> None:
    with pytest.raises(SnapshotCorrupt, match=reason) as caught:
        check_event(value, "run r seq 3")
    assert caught.value.where == "run r seq 3"


def test_optional_fields_may_be_null_where_the_tool_writes_null() -> None:
    event = check_event({**GOOD, "commit": None, "from": None, "label": None, "capture_mode": None}, "here")
    assert event.get("commit") is None


def test_parse_event_refuses_bytes_that_are_not_json() -> None:
    with pytest.raises(SnapshotCorrupt, match="not valid JSON"):
        parse_event(b"{", "r", 0)
    assert parse_event(canonical_bytes(GOOD), "r", 0) == GOOD


def test_the_log_state_follows_the_policy_named_by_each_event() -> None:
    named = {**GOOD, "policy_id": "p", "policy_hash": "h", "policy_uri": "u", "commit": None}
    state = LogState.of([check_event(named, "0"), check_event({**GOOD, "seq": 1}, "1")])
    assert state.policy == PolicyInForce("p", "h", "u", None)
    assert (state.length, state.stage) == (2, None)


def test_lint_reports_a_malformed_event_and_reads_the_rest(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    run = runs.start_run(repo, "malformed")
    capsule = Stores(repo).capsule
    assert capsule is not None
    capsule.append_event("malformed", lambda seq: canonical_bytes(
        {"event_id": str(uuid.uuid4()), "run_id": "malformed", "seq": seq,
         "timestamp": "2999-01-01T00:00:00.000000Z", "type": "Checkpoint", "policy_hash": 5,
         "policy_id": run.policy_id, "policy_uri": run.policy_uri}))
    [problem] = lint_events(repo)
    assert (problem["run_id"], problem["seq"]) == ("malformed", 1)
    assert "'policy_hash' holds a number" in problem["message"]
    with pytest.raises(SnapshotCorrupt, match="'policy_hash' holds a number"):
        runs.run_events(repo, "malformed")
