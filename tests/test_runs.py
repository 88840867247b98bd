"""Runs and events (docs/DESIGN.md §5 run start / stage boundary, §6, §8 event lint)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from conftest import git

from speckit_git_policy import runs
from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.capture import current
from speckit_git_policy.clock import after as next_timestamp
from speckit_git_policy.errors import BadInput, NotFound, PolicyInvalid
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.runs.events import filter_payload
from speckit_git_policy.runs.lint import lint_events
from speckit_git_policy.runs.run import Run
from speckit_git_policy.store import Stores

EVENT_FIELDS = {"event_id", "run_id", "seq", "timestamp", "type", "policy_id", "policy_uri",
                "policy_hash", "commit"}


def edit_policy(root: Path, old: str, new: str) -> None:
    path = root / "model_policy.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def commit_all(root: Path, message: str) -> str:
    git(root, "commit", "-q", "--allow-empty", "-am", message)
    return git(root, "rev-parse", "HEAD").strip()


# ---- run start ---------------------------------------------------------------------
def test_start_records_policy_snapshot_ref_bound_to_the_captured_snapshot(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    run = runs.start_run(repo, "run-1")
    head = git(policy_repo, "rev-parse", "HEAD").strip()
    [event] = runs.run_events(repo, "run-1")
    assert EVENT_FIELDS <= set(event)
    assert event["type"] == "PolicySnapshotRef"
    assert event["seq"] == 0 and event["run_id"] == "run-1"
    uuid.UUID(event["event_id"], version=4)
    assert event["timestamp"].endswith("Z") and len(event["timestamp"]) == 27
    # 977-A3: the event names the snapshot of the policy in force, stored twice.
    state = current(repo, Stores(repo))
    assert event["policy_id"] == state["policy_id"] == run.policy_id
    assert event["policy_hash"] == state["hash"]
    assert event["policy_uri"] == f"mv2://default/policy/{event['policy_id']}"
    assert event["commit"] == head
    stores = Stores(repo)
    assert stores.fs.read(run.policy_id) == stores.capsule.get_snapshot(run.policy_id)  # type: ignore[union-attr]
    assert run.info()["uri"] == "mv2://default/runs/run-1"


def test_start_reuses_the_snapshot_of_identical_content(policy_repo: Path) -> None:
    first = runs.start_run(policy_repo, "a")
    second = runs.start_run(policy_repo, "b")
    assert first.policy_id == second.policy_id
    assert runs.run_events(policy_repo, "b")[0]["created"] is False
    assert len(Stores(GitRepo.discover(policy_repo)).ids()) == 1


def test_start_without_run_id_makes_a_valid_one(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo)
    assert run.run_id.startswith("run-")
    assert runs.run_events(policy_repo, run.run_id)[0]["run_id"] == run.run_id


def test_start_from_uncommitted_edits_records_no_commit(policy_repo: Path) -> None:
    edit_policy(policy_repo, "plan = 8000", "plan = 9000")
    event = runs.run_events(policy_repo, runs.start_run(policy_repo, "dirty").run_id)[0]
    assert event["commit"] is None


@pytest.mark.parametrize("bad", [
    "", "x" * 129, "a/b", "a..b", "a b", "a\tb", "a\x01b", "a@{1}", "a~1", "a^b", "a:b", ".hidden",
])
def test_bad_run_ids_are_refused(policy_repo: Path, bad: str) -> None:
    with pytest.raises(BadInput):
        runs.start_run(policy_repo, bad)
    with pytest.raises(BadInput):
        runs.run_events(policy_repo, bad)


def test_longest_run_id_is_accepted(policy_repo: Path) -> None:
    run_id = "r" * 128
    assert runs.start_run(policy_repo, run_id).run_id == run_id


def test_a_run_id_cannot_be_started_twice(policy_repo: Path) -> None:
    runs.start_run(policy_repo, "twice")
    with pytest.raises(BadInput, match="already exists"):
        runs.start_run(policy_repo, "twice")
    assert len(runs.run_events(policy_repo, "twice")) == 1


def test_unknown_run_is_not_found(policy_repo: Path) -> None:
    runs.start_run(policy_repo, "known")
    for call in (lambda: runs.run_events(policy_repo, "unknown"),
                 lambda: runs.stage(policy_repo, "unknown", "plan"),
                 lambda: runs.checkpoint(policy_repo, "unknown"),
                 lambda: runs.open_run(policy_repo, "unknown")):
        with pytest.raises(NotFound) as caught:
            call()
        assert caught.value.exit_code == 2


def test_capsule_turned_off_refuses_clearly(policy_repo: Path) -> None:
    git(policy_repo, "config", "speckit.capsule", "false")
    with pytest.raises(BadInput, match=r"capsule is turned off.*speckit\.capsule"):
        runs.start_run(policy_repo, "no-capsule")
    with pytest.raises(BadInput, match="capsule is turned off"):
        runs.run_events(policy_repo, "no-capsule")
    assert lint_events(policy_repo) == []


def test_start_under_an_invalid_policy_is_refused_and_writes_nothing(policy_repo: Path) -> None:
    edit_policy(policy_repo, 'mode = "prompts_only"', 'mode = "everything"')
    with pytest.raises(PolicyInvalid, match="capture.mode") as caught:
        runs.start_run(policy_repo, "invalid")
    assert caught.value.exit_code == 1
    repo = GitRepo.discover(policy_repo)
    assert Stores(repo).ids() == []
    with pytest.raises(NotFound):
        runs.run_events(repo, "invalid")


# ---- stages and checkpoints ---------------------------------------------------------
def test_stage_transitions_chain_from_to_with_gap_free_seq(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "flow")
    run.stage("specify")
    run.stage("plan")
    run.checkpoint("plan reviewed")
    runs.stage(policy_repo, "flow", "tasks")  # the one-call API, as a separate process would
    events = runs.run_events(policy_repo, "flow")
    assert [e["seq"] for e in events] == list(range(5))
    transitions = [(e["from"], e["to"]) for e in events if e["type"] == "StageTransition"]
    assert transitions == [(None, "specify"), ("specify", "plan"), ("plan", "tasks")]
    checkpoint = events[3]
    assert checkpoint["type"] == "Checkpoint" and checkpoint["label"] == "plan reviewed"
    # 977-A4: every event carries the policy reference.
    assert all(EVENT_FIELDS <= set(e) for e in events)
    assert len({e["policy_id"] for e in events}) == 1
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert len({e["event_id"] for e in events}) == 5


def test_unknown_stage_gets_did_you_mean(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "typo")
    with pytest.raises(BadInput, match="did you mean 'implement'"):
        run.stage("implemnt")
    with pytest.raises(BadInput):
        run.stage("")
    assert len(run.events()) == 1


def test_stages_named_in_token_budgets_are_known(policy_repo: Path) -> None:
    edit_policy(policy_repo, "implement = 6000", "implement = 6000\nreview = 2000")
    commit_all(policy_repo, "Add review budget")
    event = runs.start_run(policy_repo, "custom").stage("review")
    assert event["to"] == "review"


def test_transition_to_the_current_stage_is_refused(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "same")
    run.stage("plan")
    with pytest.raises(BadInput, match="already in stage 'plan'"):
        run.stage("plan")


def test_labels_with_control_characters_are_refused(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "labels")
    with pytest.raises(BadInput, match="control character"):
        run.checkpoint("bad\nlabel")
    assert run.checkpoint()["label"] is None


# ---- stage boundaries -------------------------------------------------------------------
def test_uncommitted_edit_is_captured_at_the_next_boundary(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "edited")
    first = run.stage("plan")
    assert first["policy_changed"] is False and "replaced_policy_id" not in first
    old_id, old_hash = run.policy_id, run.policy_hash
    edit_policy(policy_repo, "tasks = 4000", "tasks = 4500")
    event = run.stage("tasks")
    assert event["policy_changed"] is True
    assert event["replaced_policy_id"] == old_id and event["replaced_policy_hash"] == old_hash
    assert event["policy_id"] != old_id and event["commit"] is None
    stores = Stores(GitRepo.discover(policy_repo))
    document = stores.load(event["policy_id"])
    assert document["budgets"]["tokens"]["tasks"] == 4500
    assert document["provenance"]["trigger"] == "stage_boundary"
    assert event["policy_hash"] == document["hash"]
    # The same content again is not a change.
    assert run.checkpoint("again")["policy_changed"] is False


def test_boundary_refuses_an_invalid_edit_until_it_is_fixed(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "broken-edit")
    edit_policy(policy_repo, "plan = 8000", "plan = -1")
    with pytest.raises(PolicyInvalid, match="budgets.tokens.plan"):
        run.stage("plan")
    assert len(run.events()) == 1
    edit_policy(policy_repo, "plan = -1", "plan = 7000")
    assert run.stage("plan")["policy_changed"] is True


def test_committed_change_is_captured_with_its_commit(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "committed")
    edit_policy(policy_repo, "hard_limit = 25.0", "hard_limit = 30.0")
    head = commit_all(policy_repo, "Raise the hard limit")
    event = run.checkpoint("after commit")
    assert event["policy_changed"] is True and event["commit"] == head
    stores = Stores(GitRepo.discover(policy_repo))
    assert stores.load(event["policy_id"])["budgets"]["cost"]["hard_limit"] == 30.0


def test_doc_change_is_a_policy_change(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "doc")
    doc = policy_repo / "docs" / "MODEL-POLICY.md"
    doc.write_text(doc.read_text() + "\nOne more reason.\n")
    assert run.stage("plan")["policy_changed"] is True


def test_reverting_to_the_old_content_returns_to_the_old_snapshot(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "revert")
    original = run.policy_id
    edit_policy(policy_repo, "plan = 8000", "plan = 1")
    changed = run.stage("plan")
    edit_policy(policy_repo, "plan = 1", "plan = 8000")
    back = run.stage("tasks")
    assert back["policy_changed"] is True
    assert back["policy_id"] == original and back["replaced_policy_id"] == changed["policy_id"]


def test_decisions_mid_stage_keep_the_policy_in_force(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "mid")
    run.stage("plan")
    governing = run.policy_id
    edit_policy(policy_repo, "plan = 8000", "plan = 100")
    decision = {"type": "BudgetDecision", "kind": "tokens", "policy_id": governing,
                "policy_hash": run.policy_hash, "stage": "plan", "tokens": 500, "decision": "allow"}
    event = run.decision(decision)
    assert event["type"] == "BudgetDecision" and event["policy_id"] == governing
    assert event["decision"]["tokens"] == 500 and "policy_changed" not in event
    # Only the next boundary switches.
    assert run.stage("tasks")["policy_id"] != governing


def test_append_decision_one_call_and_refusals(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "decide")
    event = runs.append_decision(policy_repo, "decide", {"type": "RouteDecision", "role": "judge",
                                                         "policy_id": run.policy_id})
    assert event["seq"] == 1 and event["decision"] == {"role": "judge"}
    with pytest.raises(BadInput, match="made under policy_id"):
        run.decision({"type": "RouteDecision", "policy_id": str(uuid.uuid4())})
    with pytest.raises(BadInput, match="not a decision type"):
        run.decision({"type": "StageTransition"})
    with pytest.raises(BadInput):
        run.decision({"type": "GateDecision", "value": float("nan")})


def test_a_held_run_sees_events_another_writer_appended(policy_repo: Path) -> None:
    held = runs.start_run(policy_repo, "shared")
    held.stage("plan")
    runs.stage(policy_repo, "shared", "tasks")  # another process
    event = held.stage("implement")
    assert event["seq"] == 3 and event["from"] == "tasks"
    events = runs.run_events(policy_repo, "shared")
    assert [e["seq"] for e in events] == [0, 1, 2, 3]


# ---- capture mode -----------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "kept", "dropped"), [
    ("none", {}, ["prompt", "output"]),
    ("prompts_only", {"prompt": "PROMPT"}, ["output"]),
    ("full_io", {"prompt": "PROMPT", "output": "OUTPUT"}, []),
])
def test_payloads_obey_capture_mode(policy_repo: Path, mode: str, kept: dict[str, str],
                                    dropped: list[str]) -> None:
    edit_policy(policy_repo, 'mode = "prompts_only"', f'mode = "{mode}"')
    commit_all(policy_repo, f"capture {mode}")
    run = runs.start_run(policy_repo, f"mode-{mode}")
    payload = {"prompt": "PROMPT", "output": "OUTPUT"}
    for event in (run.stage("plan", payload), run.checkpoint("c", payload)):
        assert event["capture_mode"] == mode
        assert event["payload"] == kept and event["dropped"] == dropped
    stored = runs.run_events(policy_repo, run.run_id)
    raw = json.dumps(stored)
    assert ("OUTPUT" in raw) == (mode == "full_io")
    assert ("PROMPT" in raw) == (mode != "none")


def test_capture_mode_follows_the_snapshot_of_the_boundary(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "switch")
    edit_policy(policy_repo, 'mode = "prompts_only"', 'mode = "none"')
    event = run.checkpoint("now none", {"prompt": "secret prompt"})
    assert event["policy_changed"] is True
    assert event["payload"] == {} and event["dropped"] == ["prompt"]


def test_filter_payload_rules() -> None:
    assert filter_payload(None, "full_io") == {}
    assert filter_payload({"output": "o"}, "prompts_only") == {
        "capture_mode": "prompts_only", "payload": {}, "dropped": ["output"]}
    # A snapshot without a valid mode keeps nothing.
    assert filter_payload({"prompt": "p"}, None)["dropped"] == ["prompt"]
    with pytest.raises(BadInput, match="not one of"):
        filter_payload({"tokens": "1"}, "full_io")
    with pytest.raises(BadInput, match="must be text"):
        filter_payload({"prompt": 1}, "full_io")  # type: ignore[dict-item]


def test_bad_payload_writes_nothing(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "bad-payload")
    with pytest.raises(BadInput):
        run.checkpoint("x", {"prompt": "p", "extra": "no"})
    assert len(run.events()) == 1


def test_timestamps_never_go_backwards() -> None:
    future = "2999-01-01T00:00:00.999999Z"
    assert next_timestamp(future) == "2999-01-01T00:00:01.000000Z"
    assert next_timestamp(None) < future


# ---- event lint -----------------------------------------------------------------------
def _raw_event(run_id: str, seq: int, **fields: object) -> bytes:
    return canonical_bytes({"event_id": str(uuid.uuid4()), "run_id": run_id, "seq": seq,
                            "timestamp": next_timestamp(None), "type": "Checkpoint", **fields})


def test_lint_events_clean_and_broken(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    run = runs.start_run(repo, "lint")
    run.stage("plan")
    assert lint_events(repo) == []
    capsule = Stores(repo).capsule
    assert capsule is not None
    dangling = str(uuid.uuid4())
    capsule.append_event("lint", lambda seq: _raw_event(
        "lint", seq, policy_id=dangling, policy_uri=f"mv2://default/policy/{dangling}",
        policy_hash=run.policy_hash))
    capsule.append_event("lint", lambda seq: _raw_event(
        "lint", seq, policy_id=run.policy_id, policy_uri=run.policy_uri, policy_hash="0" * 64))
    capsule.append_event("lint", lambda seq: _raw_event(
        "lint", seq, policy_id=run.policy_id, policy_uri="mv2://other/policy/" + run.policy_id,
        policy_hash=run.policy_hash))
    capsule.append_event("lint", lambda seq: _raw_event("lint", seq))
    problems = lint_events(repo)
    assert [(p["run_id"], p["seq"]) for p in problems] == [("lint", 2), ("lint", 3), ("lint", 4), ("lint", 5)]
    assert "does not resolve" in problems[0]["message"]
    assert "policy_hash" in problems[1]["message"]
    assert "does not name snapshot" in problems[2]["message"]
    assert "names no policy snapshot" in problems[3]["message"]


def test_lint_events_finds_a_snapshot_no_copy_of_which_verifies(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    run = runs.start_run(repo, "corrupt")
    stores = Stores(repo)
    assert stores.capsule is not None
    good = stores.fs.read(run.policy_id)
    assert good is not None
    bad = good.replace(b"8000", b"8001")
    stores.fs.path_for(run.policy_id).write_bytes(bad)
    assert lint_events(repo) == []  # the capsule copy still verifies: the reference holds
    document = json.loads(bad)
    stores.capsule.put_snapshot(run.policy_id, document["hash"], document["created_at"], bad,
                                replace=True)
    [problem] = lint_events(repo)
    assert (problem["run_id"], problem["seq"]) == ("corrupt", 0)
    assert "hash mismatch" in problem["message"]


def test_verify_reports_event_problems(policy_repo: Path) -> None:
    from speckit_git_policy.queries.verify import verify

    repo = GitRepo.discover(policy_repo)
    runs.start_run(repo, "verified")
    assert verify(repo).ok
    capsule = Stores(repo).capsule
    assert capsule is not None
    missing = str(uuid.uuid4())
    capsule.append_event("verified", lambda seq: _raw_event(
        "verified", seq, policy_id=missing, policy_uri=f"mv2://default/policy/{missing}",
        policy_hash="1" * 64))
    report = verify(repo)
    assert not report.ok
    assert any(p.kind == "event" and p.extra == {"run_id": "verified", "seq": 1} for p in report.problems)


def test_list_runs(policy_repo: Path) -> None:
    runs.start_run(policy_repo, "one").stage("plan")
    runs.start_run(policy_repo, "two")
    rows = {row["run_id"]: row for row in runs.list_runs(policy_repo)}
    assert set(rows) == {"one", "two"}
    assert rows["one"]["events"] == 2 and rows["one"]["stage"] == "plan"
    assert rows["two"]["uri"] == "mv2://default/runs/two"


def test_run_open_restores_state(policy_repo: Path) -> None:
    runs.start_run(policy_repo, "reopen").stage("plan")
    run = Run.open(policy_repo, "reopen")
    assert run.current_stage == "plan" and run.info()["events"] == 2


def test_concurrent_writers_to_one_run_lose_nothing(policy_repo: Path) -> None:
    import subprocess
    import sys

    runs.start_run(policy_repo, "busy")
    script = (
        "import sys\nfrom speckit_git_policy import runs\n"
        "run = runs.open_run(sys.argv[1], 'busy')\n"
        "for i in range(8):\n    run.checkpoint(f'{sys.argv[2]}-{i}')\n"
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, str(policy_repo), f"w{n}"])
               for n in range(4)]
    assert all(writer.wait(timeout=120) == 0 for writer in writers)
    events = runs.run_events(policy_repo, "busy")
    assert [e["seq"] for e in events] == list(range(33))
    assert len({e["event_id"] for e in events}) == 33
    labels = sorted(e["label"] for e in events[1:])
    assert labels == sorted(f"w{n}-{i}" for n in range(4) for i in range(8))
    assert lint_events(policy_repo) == []
