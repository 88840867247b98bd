"""store/bindings.py: the binding algebra (bind, move, merge, fold), pure, and its checked reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from hypothesis import given, settings
from hypothesis import strategies as st

from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.errors import SnapshotCorrupt
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores
from speckit_git_policy.store import bindings as b
from speckit_git_policy.store.bindings import Binding


def binding(commit: str, *history: str, at: str = "") -> Binding:
    return {"commit": commit, "rewritten_from": list(history), "bound_at": at}


def as_sets(bindings: list[Binding]) -> dict[str, tuple[frozenset[str], str]]:
    """What the algebra promises to agree on: each commit, its rewritten_from set, its bind time."""
    result = {x["commit"]: (frozenset(x["rewritten_from"]), x["bound_at"]) for x in bindings}
    assert len(result) == len(bindings), "a commit appears twice"
    return result


# ---- bind and move ------------------------------------------------------------------------
def test_bind_appends_once_and_not_a_rewritten_commit() -> None:
    one = b.bind([], "c1", "t1")
    assert one == [binding("c1", at="t1")]
    assert b.bind(one, "c1", "t2") == one
    moved = b.move(one, "c1", "c2")
    assert moved == [binding("c2", "c1", at="t1")]
    assert b.bind(moved, "c1", "t3") == moved  # c1 is bound, as what c2 was rewritten from


def test_move_keeps_history_oldest_first_and_never_changes_its_input() -> None:
    start = [binding("a", at="t1"), binding("x", at="t2")]
    frozen = json.dumps(start)
    chain = b.move(start, "a", "b")
    assert chain is not None
    chain = b.move(chain, "b", "c")
    assert chain == [binding("c", "a", "b", at="t1"), binding("x", at="t2")]
    assert json.dumps(start) == frozen
    assert b.move(start, "nope", "c") is None
    assert b.move(start, "a", "a") == start  # a rewrite that ends on the same SHA


def test_move_folds_into_a_binding_of_the_new_commit_at_the_earlier_place() -> None:
    # A rebase's post-commit bound the new commit before post-rewrite moved the old one.
    start = [binding("old", at="t1"), binding("other", at="t2"), binding("new", at="t3")]
    assert b.move(start, "old", "new") == [binding("new", "old", at="t1"), binding("other", at="t2")]
    # The other way round: the new commit was bound first; the earlier bind time is kept.
    start = [binding("new", "n0", at="t1"), binding("old", "o0", at="t2")]
    assert b.move(start, "old", "new") == [binding("new", "o0", "old", "n0", at="t1")]


def test_rewriting_back_to_the_original_sha_keeps_the_binding() -> None:
    there = b.move([binding("a", at="t1")], "a", "b")
    assert there is not None
    back = b.move(there, "b", "a")
    assert back == [binding("a", "a", "b", at="t1")]
    assert as_sets(b.merge(back)) == as_sets(back)  # a binding naming itself is not dropped
    assert b.fold([b.bind_op("a", "t1"), b.rewrite_op("a", "b"), b.rewrite_op("b", "a")]) == back


# ---- merge ----------------------------------------------------------------------------------
def test_merge_folds_what_the_other_side_rewrote_and_keeps_bind_order() -> None:
    ours = [binding("c1", at="1"), binding("c2", at="2")]
    theirs = [binding("n1", "c1", at="1"), binding("c3", at="3")]
    merged = b.merge(ours, theirs)
    assert merged == [binding("n1", "c1", at="1"), binding("c2", at="2"), binding("c3", at="3")]
    assert b.merge(theirs, ours) == merged
    assert b.merge(merged, ours) == merged


def test_merge_unites_rewritten_from_and_keeps_the_earliest_bind_time() -> None:
    # Both clones amended the same binding, each from its own earlier history.
    ours = [binding("new", "a", at="t5")]
    theirs = [binding("new", "b", at="t3")]
    assert b.merge(ours, theirs) == [binding("new", "a", "b", at="t3")]
    # One clone's binding was rewritten twice, the other side only saw the first rewrite.
    assert b.merge([binding("b", "a", at="t1")], [binding("c", "a", "b", at="t1")]) == [
        binding("c", "a", "b", at="t1")]


def test_merge_of_two_rewrites_of_one_commit_keeps_both_and_the_history_of_each() -> None:
    base = binding("a", "z", at="t1")
    ours = [binding("b", "z", "a", at="t1")]
    theirs = [binding("c", "z", "a", at="t1")]
    merged = b.merge([base], ours, theirs)
    assert as_sets(merged) == {"b": (frozenset({"z", "a"}), "t1"), "c": (frozenset({"z", "a"}), "t1")}


def test_merge_a_known_bind_time_wins_over_an_unknown_one() -> None:
    # The filesystem log of an earlier version has no bind times; the capsule has.
    assert b.merge([binding("c", at="")], [binding("c", at="t9")]) == [binding("c", at="t9")]
    assert b.merge([binding("c", at="")]) == [binding("c", at="")]


def test_merge_of_a_cycle_keeps_one_binding() -> None:
    # Each side rewrote into the other's commit (rewriting back to an earlier SHA).
    merged = b.merge([binding("p", "q", at="t2")], [binding("q", "p", at="t1")])
    assert as_sets(merged) == {"p": (frozenset({"p", "q"}), "t1")}


# ---- properties -------------------------------------------------------------------------------
SHAS = [f"{n:x}" * 4 for n in range(16)]
TIMES = [f"2026-01-0{n}T00:00:00.000000Z" for n in range(1, 7)]


@st.composite
def any_bindings(draw: st.DrawFn) -> list[Binding]:
    """Lists built by binds and rewrites to any SHA, also one seen before (rewriting back)."""
    bindings: list[Binding] = []
    for _ in range(draw(st.integers(0, 8))):
        commit = draw(st.sampled_from(SHAS[:8]))
        if draw(st.booleans()) or not bindings:
            bindings = b.bind(bindings, commit, draw(st.sampled_from(TIMES)))
        else:
            old = draw(st.sampled_from([x["commit"] for x in bindings]))
            bindings = b.move(bindings, old, commit) or bindings
    return bindings


@st.composite
def op_log(draw: st.DrawFn, fresh: list[str], times: list[str],
           rewritable: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """A filesystem log in time order: binds of fresh commits, and rewrites (amend, rebase)
    of these or of ``rewritable`` ones into fresh commits, as git makes them."""
    fresh = list(fresh)
    ops: list[dict[str, str]] = []
    live = list(rewritable)
    for at in sorted(draw(st.lists(st.sampled_from(times), max_size=6))):
        if not fresh:
            break
        if live and draw(st.booleans()):
            old = draw(st.sampled_from(live))
            live[live.index(old)] = fresh[0]
            ops.append(b.rewrite_op(old, fresh.pop(0)))
        else:
            live.append(fresh[0])
            ops.append(b.bind_op(fresh.pop(0), at))
    return ops


def commits_of(ops: list[dict[str, str]]) -> tuple[str, ...]:
    return tuple(x["commit"] for x in b.fold(ops))


@settings(max_examples=300, deadline=None)
@given(any_bindings(), any_bindings())
def test_merge_is_commutative_and_idempotent_on_any_lists(x: list[Binding], y: list[Binding]) -> None:
    assert as_sets(b.merge(x, y)) == as_sets(b.merge(y, x))
    assert as_sets(b.merge(x, x)) == as_sets(b.merge(x))
    once = b.merge(x, y)
    assert b.merge(once) == once  # a merged list is stored as it is: no churn on the next merge
    assert as_sets(b.merge(once, x)) == as_sets(once) == as_sets(b.merge(y, once))


@settings(max_examples=300, deadline=None)
@given(any_bindings(), any_bindings())
def test_merge_loses_no_sha_and_keeps_bind_order(x: list[Binding], y: list[Binding]) -> None:
    merged = b.merge(x, y)
    assert b.known_commits(merged) == b.known_commits(x) | b.known_commits(y)
    assert sorted(t["bound_at"] for t in merged) == [t["bound_at"] for t in merged]
    times = [t["bound_at"] for t in [*x, *y]]
    if times:
        assert merged[0]["bound_at"] == min(times)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_merge_of_clones_is_associative(data: st.DataObject) -> None:
    # Three clones of one history, each binding and rewriting (shared commits too) on its
    # own: they settle on the same bindings whatever the order they sync in.
    shared = data.draw(op_log(SHAS[:3], TIMES[:2]))
    base = commits_of(shared)
    x, y, z = (b.fold([*shared, *data.draw(op_log(SHAS[n:n + 4], TIMES[2:], base))])
               for n in (3, 7, 11))
    assert as_sets(b.merge(b.merge(x, y), z)) == as_sets(b.merge(x, b.merge(y, z)))
    assert as_sets(b.merge(b.merge(x, z), y)) == as_sets(b.merge(x, y, z))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_folding_two_clones_logs_then_merging_equals_folding_them_in_sequence(data: st.DataObject) -> None:
    # Two clones share a log; one rewrites shared commits and its own, the other only
    # its own (were both to rewrite the same commit, one log replayed after the other
    # would see the second rewrite find nothing, while the merge keeps both).
    shared = data.draw(op_log(SHAS[:3], TIMES[:2]))
    ours = data.draw(op_log(SHAS[3:8], TIMES[2:], commits_of(shared)))
    theirs = data.draw(op_log(SHAS[8:], TIMES[2:]))
    merged = b.merge(b.fold([*shared, *ours]), b.fold([*shared, *theirs]))
    assert as_sets(merged) == as_sets(b.fold([*shared, *ours, *theirs]))
    # A clone that is behind is absorbed: merging adds nothing the one ahead lacks.
    ahead = b.fold([*shared, *ours])
    assert b.merge(b.fold(shared), ahead) == ahead


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fold_gives_what_merge_keeps(data: st.DataObject) -> None:
    folded = b.fold(data.draw(op_log(SHAS, TIMES)))
    assert b.merge(folded) == folded


def test_fold_skips_torn_or_unknown_operations() -> None:
    ops: list[dict[str, object]] = [
        {"op": "bind", "commit": "a"}, {"op": "bind"}, {"op": "bind", "commit": 5},
        {"op": "rewrite", "old": "a"}, {"op": "rewrite", "old": "a", "new": None},
        {"op": "unbind", "commit": "a"}, {"op": "bind", "commit": "b", "bound_at": 7},
    ]
    assert b.fold(ops) == [binding("a"), binding("b")]


# ---- reading untrusted data ----------------------------------------------------------------------
def test_load_bindings_checks_every_field() -> None:
    good = [binding("c" * 40, "d" * 40, at="2026-01-01T00:00:00.000000Z")]
    assert b.load_bindings(canonical_bytes(good), "here") == good
    for data, reason in [
        (b"not json", "not valid JSON"),
        (b'{"commit": "c"}', "not a JSON list"),
        (b"[1]", "binding 0 is not a JSON object"),
        (b'[{"rewritten_from": [], "bound_at": ""}]', "binding 0 has no commit"),
        (b'[{"commit": "c", "rewritten_from": [1], "bound_at": ""}]', "rewritten_from"),
        (b'[{"commit": "c", "rewritten_from": "d", "bound_at": ""}]', "rewritten_from"),
        (b'[{"commit": "c", "rewritten_from": []}]', "bound_at"),
    ]:
        with pytest.raises(SnapshotCorrupt, match=reason) as caught:
            b.load_bindings(data, "here")
        assert caught.value.where == "here"


# ---- through the stores ------------------------------------------------------------------------
@pytest.mark.parametrize("capsule", ["on", "off"])
def test_show_json_prints_every_binding_field(policy_repo: Path, capsule: str) -> None:
    from click.testing import CliRunner

    from speckit_git_policy.cli import cli

    if capsule == "off":
        git(policy_repo, "config", "speckit.capsule", "false")
    runner = CliRunner()
    captured = runner.invoke(cli, ["-C", str(policy_repo), "capture", "--json"])
    assert captured.exit_code == 0, captured.output
    policy_id = json.loads(captured.output)["policy_id"]
    head = git(policy_repo, "rev-parse", "HEAD").strip()  # capture bound it
    shown = runner.invoke(cli, ["-C", str(policy_repo), "show", policy_id, "--json"])
    assert shown.exit_code == 0, shown.output
    [only] = json.loads(shown.output)["bindings"]
    assert set(only) == {"commit", "rewritten_from", "bound_at"}
    assert (only["commit"], only["rewritten_from"]) == (head, [])
    assert only["bound_at"].endswith("Z") and len(only["bound_at"]) == len("2026-01-12T10:30:00.123456Z")


def test_both_stores_record_the_same_bind_time(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    stores = Stores(repo)
    git(policy_repo, "commit", "-q", "--allow-empty", "-m", "bound")
    from speckit_git_policy.capture import capture

    policy_id = capture(repo, trigger="manual", stores=stores).policy_id
    head = git(policy_repo, "rev-parse", "HEAD").strip()
    stores.add_binding(policy_id, head)
    assert stores.capsule is not None
    [in_capsule] = [x for x in stores.capsule.bindings(policy_id) if x["commit"] == head]
    [in_log] = [x for x in stores.fs_bindings(policy_id) if x["commit"] == head]
    assert in_capsule == in_log and in_log["bound_at"]


# ---- folds, chains and rewrites across snapshots (docs/DESIGN.md §5) ------------------------
def test_record_history_keeps_the_fold_oldest_first_and_never_names_the_commit() -> None:
    start = [binding("f", "b", at="t1")]
    recorded = b.record_history(start, "f", ["a", "b", "c", "f"])
    assert recorded == [binding("f", "a", "b", "c", at="t1")]
    assert b.record_history(recorded, "f", ["a"]) is None  # nothing new
    assert b.record_history(start, "nope", ["a"]) is None
    assert start == [binding("f", "b", at="t1")]  # pure
    ops = [b.bind_op("f", "t1"), b.history_op("f", ["a", "f"])]
    assert b.fold(ops) == [binding("f", "a", at="t1")]


def test_compose_follows_amends_made_during_a_rebase_to_the_first_original() -> None:
    chains = b.compose([("a", "a1"), ("x", "x1")], [("a1", "a2"), ("a2", "a3"), ("q", "r")])
    assert chains == [("a", ["a1", "a2"], "a3"), ("x", [], "x1")]
    assert b.compose([("a", "b")], [("b", "a")]) == [("a", ["b"], "a")]  # back to the start
    moved = b.move([binding("a", at="t1")], "a", "a3", ["a1", "a2"])
    assert moved == [binding("a3", "a", "a1", "a2", at="t1")]
    assert b.fold([b.bind_op("a", "t1"), b.rewrite_op("a", "a3", ["a1", "a2"])]) == moved


def test_follow_across_moves_other_snapshots_of_the_same_content_only() -> None:
    lists = {
        "theirs": [binding("new", "old", at="t1")],
        "ours": [binding("old", at="t2")],
        "other_content": [binding("old", at="t3")],
    }
    same = {"theirs": "h", "ours": "h", "other_content": "k"}
    changed = b.follow_across(lists, lambda one, other: same[one] == same[other])
    assert changed == {"ours": [binding("new", "old", at="t2")]}
    assert b.follow_across(changed | {"theirs": lists["theirs"]}, lambda x, y: True) == {}
