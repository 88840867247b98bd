"""Runs and their event logs (docs/DESIGN.md §5 run start and stage boundary, §6, §8 event lint).

A run's log lives in the capsule (``mv2://<workspace>/runs/<run_id>``); every event
is bound to the policy snapshot in force when it was appended. An agent runner
holds a :class:`Run` and appends through it, so that the repository is discovered,
the stores opened and the snapshot loaded once, not once per event::

    from speckit_git_policy import start_run

    run = start_run(".")                       # PolicySnapshotRef, seq 0
    run.stage("plan")                          # StageTransition None -> plan
    run.decision(route_decision.as_event())    # a decision (docs/DESIGN.md §7), mid-stage
    run.checkpoint("reviewed", payload={"prompt": p, "output": o})

The policy changes only at a stage boundary (``stage``/``checkpoint``): there the
work tree's sources are compared with the governing snapshot's ``source_digests``
(exact: equal bytes compile to the same hash), and a change is captured first, so
that the boundary event points at the new snapshot and names the one it replaced.
Decisions are recorded under the snapshot in force, without a check: a policy
edited mid-stage waits for the next boundary. A policy that fails validation never
governs a run: ``start`` and a boundary that meets one raise PolicyInvalid and
write nothing.

Run logs live in the capsule only: with ``speckit.capsule=false`` every run call
raises CapsuleDisabled.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict

from speckit_git_policy import __version__, clock
from speckit_git_policy.canonical import canonical_bytes, sha256_hex
from speckit_git_policy.errors import BadInput, PolicyInvalid, SnapshotCorrupt
from speckit_git_policy.git.repo import GitRepo, as_repo
from speckit_git_policy.ids import check_run_id, new_uuid4
from speckit_git_policy.policy.sources import WORKTREE, Sources, read_sources, source_paths
from speckit_git_policy.runs.events import (
    CHECKPOINT,
    LABEL_MAX,
    POLICY_SNAPSHOT_REF,
    STAGE_MAX,
    STAGE_TRANSITION,
    USAGE_RECORDED,
    LogState,
    _check_text,
    capsule_of,
    correlation_ids,
    filter_payload,
    host_name,
    known_stages,
    new_run_id,
    parse_event,
    read_events,
)
from speckit_git_policy.runs.records import Event, EventBody, PolicyInForce
from speckit_git_policy.text import did_you_mean

if TYPE_CHECKING:
    from speckit_git_policy.git.repo import RepoLike
    from speckit_git_policy.snapshot import Compiled
    from speckit_git_policy.store import Stores


class RunInfo(TypedDict):
    """``Run.info()``, what ``run start --json`` prints."""

    run_id: str
    uri: str
    policy_id: str
    policy_hash: str
    policy_uri: str
    commit: str | None
    stage: str | None
    events: int


def _checked(compiled: Compiled) -> Compiled:
    """A run is never governed by a policy that fails validation: its budgets and
    routes could not be enforced. Refused before anything is written."""
    if not compiled.validated:
        raise PolicyInvalid(list(compiled.issues))
    return compiled


class Run:
    """A run's log, held by the runner: appends without rediscovering anything.

    One Run may be shared by threads (the call-time guard's concurrent calls): its
    appends and refreshes take ``lock``, so the in-memory state never goes stale
    under them. Other processes append through the capsule's compare-and-swap.
    """

    def __init__(
        self,
        repo: GitRepo,
        stores: Stores,
        run_id: str,
        state: LogState,
        *,
        trace_id: str | None = None,
        session_id: str | None = None,
    ) -> None:
        self.repo = repo
        self.stores = stores
        self.run_id = run_id
        self.capsule = capsule_of(stores)
        self._state = state
        self._documents: dict[str, dict[str, Any]] = {}
        self._paths = source_paths(repo)
        self._origin: dict[str, str] = {
            "host": host_name(),
            "tool_version": __version__,
            **correlation_ids(trace_id, session_id, os.environ),
        }
        self._lock = threading.RLock()
        self._followers: list[Callable[[list[Event], bool], None]] = []

    # ---- opening -------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        repo: RepoLike = None,
        run_id: str | None = None,
        *,
        stores: Stores | None = None,
        trace_id: str | None = None,
        session_id: str | None = None,
    ) -> Run:
        """Capture the policy (reusing the snapshot of the same content) and record
        ``PolicySnapshotRef`` as the run's first event."""
        from speckit_git_policy.capture import binds, read_for_capture, store_compiled
        from speckit_git_policy.snapshot import compile_sources
        from speckit_git_policy.store import Stores

        git_repo = as_repo(repo)
        stores = stores or Stores(git_repo)
        capsule = capsule_of(stores)
        run_id = check_run_id(run_id) if run_id is not None else new_run_id()
        if capsule.has_run(run_id):
            raise BadInput(f"run {run_id!r} already exists; pick another --run-id")
        # capture(), with the validity check before anything is written.
        sources, commit = read_for_capture(git_repo, None)
        compiled = _checked(compile_sources(sources))
        # The event records HEAD; only a HEAD that changed a source is bound (docs/DESIGN.md §5).
        bind = binds(git_repo, commit, sources.paths)
        result = store_compiled(git_repo, compiled, commit, "run_start", stores, bind=bind)
        run = cls(git_repo, stores, run_id, LogState(), trace_id=trace_id, session_id=session_id)
        policy = PolicyInForce(result.policy_id, result.hash, result.uri, result.commit)
        run._append(POLICY_SNAPSHOT_REF, policy, {"created": result.created}, first=True)
        return run

    @classmethod
    def open(
        cls,
        repo: RepoLike,
        run_id: str,
        *,
        stores: Stores | None = None,
        trace_id: str | None = None,
        session_id: str | None = None,
    ) -> Run:
        from speckit_git_policy.store import Stores

        git_repo = as_repo(repo)
        stores = stores or Stores(git_repo)
        events = read_events(capsule_of(stores), run_id)
        state = LogState.of(events)
        if state.policy is None:
            raise SnapshotCorrupt(f"run {run_id}", "no event names a policy snapshot")
        return cls(git_repo, stores, run_id, state, trace_id=trace_id, session_id=session_id)

    # ---- what the runner reads -----------------------------------------------------
    @property
    def governing(self) -> PolicyInForce:
        assert self._state.policy is not None
        return self._state.policy

    @property
    def policy_id(self) -> str:
        return self.governing.policy_id

    @property
    def policy_hash(self) -> str:
        return self.governing.policy_hash

    @property
    def policy_uri(self) -> str:
        return self.governing.policy_uri

    @property
    def commit(self) -> str | None:
        return self.governing.commit

    @property
    def current_stage(self) -> str | None:
        return self._state.stage

    @property
    def uri(self) -> str:
        return self.capsule.run_uri(self.run_id)

    @property
    def length(self) -> int:
        """The number of events this Run knows of (``refresh`` learns of others')."""
        return self._state.length

    @property
    def lock(self) -> threading.RLock:
        """Held by every append and refresh; a caller that decides on the log and then
        appends (the call-time guard) holds it across both."""
        return self._lock

    def follow(self, follower: Callable[[list[Event], bool], None]) -> None:
        """Call ``follower(events, reset)`` with the whole log now (reset True), then with
        every event this Run appends or ``refresh`` brings in, in seq order, under the
        lock (reset True again when a merge renumbered the log): a fold over the log that
        never reads it twice (the call-time guard's ledger)."""
        with self._lock:
            events = self.events()
            self._state = LogState.of(events)
            follower(events, True)
            self._followers.append(follower)

    def _tell(self, events: list[Event], reset: bool) -> None:
        for follower in self._followers:
            follower(events, reset)

    def document(self, policy_id: str) -> dict[str, Any]:
        """A snapshot's document (verified), read once per Run."""
        return self._document(policy_id)

    def policy(self) -> dict[str, Any]:
        """The governing snapshot's document (verified)."""
        return self._document(self.policy_id)

    def info(self) -> RunInfo:
        return {
            "run_id": self.run_id,
            "uri": self.uri,
            "policy_id": self.policy_id,
            "policy_hash": self.policy_hash,
            "policy_uri": self.policy_uri,
            "commit": self.commit,
            "stage": self.current_stage,
            "events": self._state.length,
        }

    def events(self) -> list[Event]:
        return read_events(self.capsule, self.run_id)

    def refresh(self) -> tuple[list[Event], bool]:
        """Learn of the events other writers appended since this Run last looked.

        Returns (the new events in seq order, False), reading only them (the log is
        read last first); or (every event, True) when the log was renumbered under us
        (a merge of two clones' appends put events before ones we knew): then the
        caller starts over from the whole log.
        """
        with self._lock:
            known = self._state.length
            length = self.capsule.run_length(self.run_id)
            if length == known:
                return [], False
            if length > known:
                wanted = length - known + (1 if known else 0)
                tail: list[bytes] = []
                for data in self.capsule.run_events_backward(self.run_id):
                    tail.append(data)
                    if len(tail) == wanted:
                        break
                tail.reverse()
                parsed = [
                    parse_event(data, self.run_id, length - len(tail) + i)
                    for i, data in enumerate(tail)
                ]
                if not known or parsed[0]["event_id"] == self._state.last_event_id:
                    new = parsed[1:] if known else parsed
                    for event in new:
                        self._state = self._state.after(event)
                    self._tell(new, False)
                    return new, False
            events = read_events(self.capsule, self.run_id)
            self._state = LogState.of(events)
            self._tell(events, True)
            return events, True

    # ---- appending -------------------------------------------------------------------
    def stage(
        self, stage: str, payload: dict[str, str] | None = None, *, via: str | None = None
    ) -> Event:
        """Record a ``StageTransition`` (from the current stage to ``stage``); ``via`` names
        who recorded it (the Spec Kit integration: workflow, hook, event, inferred)."""
        _check_text("stage", stage, STAGE_MAX)
        policy = self._boundary()
        stages = known_stages(self._document(policy.policy_id))
        if stage not in stages:
            raise BadInput(
                f"unknown stage {stage!r} (this policy knows {', '.join(stages)})"
                f"{did_you_mean(stage, stages)}"
            )
        if stage == self.current_stage:
            raise BadInput(f"run {self.run_id!r} is already in stage {stage!r}")
        fields: EventBody = {"to": stage}
        if via is not None:
            fields["via"] = _check_text("via", via, STAGE_MAX)
        return self._append(STAGE_TRANSITION, policy, fields, payload)

    def checkpoint(
        self,
        label: str | None = None,
        payload: dict[str, str] | None = None,
        *,
        via: str | None = None,
    ) -> Event:
        if label is not None:
            _check_text("label", label, LABEL_MAX)
        fields: EventBody = {"label": label}
        if via is not None:
            fields["via"] = _check_text("via", via, STAGE_MAX)
        policy = self._boundary()
        return self._append(CHECKPOINT, policy, fields, payload)

    def decision(self, decision: dict[str, Any]) -> Event:
        """Record a decision (docs/DESIGN.md §7) (``Decision.as_event()``) under the snapshot in force.

        A decision made under another snapshot is refused: the log must never say a
        run was governed by a policy it was not.
        """
        if not isinstance(decision, dict):
            raise BadInput("a decision must be a JSON object")
        kind = decision.get("type")
        if not isinstance(kind, str) or not kind.endswith("Decision") or not kind.isidentifier():
            raise BadInput(f"decision type {kind!r} is not a decision type (e.g. 'RouteDecision')")
        policy = self.governing
        for key, expected in (("policy_id", policy.policy_id), ("policy_hash", policy.policy_hash)):
            if key in decision and decision[key] != expected:
                raise BadInput(
                    f"the decision was made under {key} {decision[key]!r}, but run {self.run_id!r} "
                    f"is governed by {expected!r}; decide under the run's policy (run.policy_id)"
                )
        body = {
            k: v
            for k, v in decision.items()
            if k not in ("type", "policy_id", "policy_hash", "policy_uri")
        }
        try:
            canonical_bytes(body)
        except Exception as e:
            raise BadInput(f"the decision cannot be stored as JSON: {e}") from e
        return self._append(kind, None, {"decision": body})

    def usage(self, fields: EventBody) -> Event:
        """Record a ``UsageRecorded`` event (docs/DESIGN.md §6) under the snapshot in force."""
        for key in ("stage", "role", "api", "model_requested"):
            value = fields.get(key)
            if not isinstance(value, str) or not value:
                raise BadInput(f"a usage record needs {key!r} (text)")
        try:
            canonical_bytes(dict(fields))
        except Exception as e:
            raise BadInput(f"the usage record cannot be stored as JSON: {e}") from e
        return self._append(USAGE_RECORDED, None, fields)

    # ---- internals ---------------------------------------------------------------------
    def _document(self, policy_id: str) -> dict[str, Any]:
        document = self._documents.get(policy_id)
        if document is None:
            document = self.stores.load(policy_id)
            self._documents[policy_id] = document
        return document

    def _boundary(self) -> PolicyInForce:
        """The snapshot for the stage that starts now: the current one while the work
        tree's sources are byte-identical to its sources, else a fresh capture."""
        current = self.governing
        sources = read_sources(self.repo, WORKTREE, self._paths)
        if self._sources_match(current.policy_id, sources):
            return current
        from speckit_git_policy.capture import binds, store_compiled, worktree_matches_commit
        from speckit_git_policy.snapshot import compile_sources

        compiled = _checked(compile_sources(sources))
        if compiled.hash == current.policy_hash:
            return current
        head = self.repo.head()
        commit = (
            head if head is not None and worktree_matches_commit(self.repo, sources, head) else None
        )
        result = store_compiled(
            self.repo,
            compiled,
            commit,
            "stage_boundary",
            self.stores,
            bind=binds(self.repo, commit, sources.paths),
        )
        return PolicyInForce(result.policy_id, result.hash, result.uri, commit)

    def _sources_match(self, policy_id: str, sources: Sources) -> bool:
        document = self._document(policy_id)
        digests = document.get("source_digests") or {}
        if sorted(sources.files) != sorted(digests):
            return False
        return all(sha256_hex(data) == digests[path] for path, data in sources.files.items())

    def _append(
        self,
        kind: str,
        policy: PolicyInForce | None,
        fields: EventBody,
        payload: dict[str, str] | None = None,
        *,
        first: bool = False,
    ) -> Event:
        """Append one event. ``policy`` None: the snapshot in force as of the event's seq."""
        event_id = new_uuid4()
        built: list[Event] = []
        origin = {"actor": self.capsule.identity.decode("utf-8", "replace"), **self._origin}

        def build(seq: int) -> bytes:
            if first and seq != 0:
                raise BadInput(f"run {self.run_id!r} already exists; pick another --run-id")
            if seq != self._state.length:
                # Someone else appended since we last looked: take the log as of
                # our seq, so that "from" and the policy in force are right.
                self._state = LogState.of(read_events(self.capsule, self.run_id)[:seq])
            state = self._state
            governing = policy or state.policy
            if governing is None:
                raise SnapshotCorrupt(f"run {self.run_id}", "no event names a policy snapshot")
            event: Event = {
                "event_id": event_id,
                "run_id": self.run_id,
                "seq": seq,
                "timestamp": clock.after(state.last_timestamp),
                "type": kind,
                "policy_id": governing.policy_id,
                "policy_uri": governing.policy_uri,
                "policy_hash": governing.policy_hash,
                "commit": governing.commit,
                **origin,  # type: ignore[typeddict-item]  # str values of the origin fields
                **fields,
            }
            if kind == STAGE_TRANSITION:
                event["from"] = state.stage
            if kind in (STAGE_TRANSITION, CHECKPOINT):
                replaced = state.policy
                changed = replaced is not None and replaced.policy_id != governing.policy_id
                event["policy_changed"] = changed
                if changed and replaced is not None:
                    event["replaced_policy_id"] = replaced.policy_id
                    event["replaced_policy_hash"] = replaced.policy_hash
            if payload is not None:
                mode = (self._document(governing.policy_id).get("capture") or {}).get("mode")
                event = {
                    **event,
                    **filter_payload(payload, mode if isinstance(mode, str) else None),
                }
            built[:] = [event]
            return canonical_bytes(event)

        if payload is not None:
            filter_payload(payload, "none")  # refuse a malformed payload before anything is written
        with self._lock:
            before = self._state.length
            self.capsule.append_event(self.run_id, build)
            if self._followers and built[0]["seq"] != before:
                # Others appended first: the followers learn of their events too.
                self._tell(read_events(self.capsule, self.run_id)[before : built[0]["seq"]], False)
            self._state = self._state.after(built[0])
            self._tell([built[0]], False)
        return built[0].copy()


# ---- the library API (one call each; a runner appending many events holds a Run) ----
def start_run(
    repo: RepoLike = None,
    run_id: str | None = None,
    *,
    trace_id: str | None = None,
    session_id: str | None = None,
) -> Run:
    """Start a run: capture, store both copies, record ``PolicySnapshotRef``.

    Returns the :class:`Run`; ``run.info()`` has the run id and the snapshot. Its
    events carry ``trace_id``/``session_id`` (default: ``SPECKIT_TRACE_ID``, else
    ``TRACEPARENT``'s trace id; ``SPECKIT_SESSION_ID``).
    """
    return Run.start(repo, run_id, trace_id=trace_id, session_id=session_id)


def open_run(
    repo: RepoLike,
    run_id: str,
    *,
    trace_id: str | None = None,
    session_id: str | None = None,
) -> Run:
    """An existing run, ready to append to; NotFound when the capsule has no such run."""
    return Run.open(repo, run_id, trace_id=trace_id, session_id=session_id)


def stage(repo: RepoLike, run_id: str, stage: str, payload: dict[str, str] | None = None) -> Event:
    return Run.open(repo, run_id).stage(stage, payload)


def checkpoint(
    repo: RepoLike, run_id: str, label: str | None = None, payload: dict[str, str] | None = None
) -> Event:
    return Run.open(repo, run_id).checkpoint(label, payload)


def append_decision(repo: RepoLike, run_id: str, decision: dict[str, Any]) -> Event:
    """Record a decision (docs/DESIGN.md §7) (``decision.as_event()``) in the run's log."""
    return Run.open(repo, run_id).decision(decision)


def run_events(repo: RepoLike, run_id: str) -> list[Event]:
    from speckit_git_policy.store import Stores

    return read_events(capsule_of(Stores(as_repo(repo))), run_id)
