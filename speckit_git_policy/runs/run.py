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

import uuid
from typing import TYPE_CHECKING, Any, TypedDict

from speckit_git_policy import clock
from speckit_git_policy.canonical import canonical_bytes, sha256_hex
from speckit_git_policy.errors import BadInput, PolicyInvalid, SnapshotCorrupt
from speckit_git_policy.git.repo import GitRepo, RepoLike, as_repo
from speckit_git_policy.ids import check_run_id
from speckit_git_policy.policy.sources import WORKTREE, Sources, read_sources, source_paths
from speckit_git_policy.runs.events import (
    CHECKPOINT,
    LABEL_MAX,
    POLICY_SNAPSHOT_REF,
    STAGE_MAX,
    STAGE_TRANSITION,
    LogState,
    _check_text,
    capsule_of,
    filter_payload,
    known_stages,
    new_run_id,
    read_events,
)
from speckit_git_policy.runs.records import Event, EventBody, PolicyInForce
from speckit_git_policy.text import did_you_mean

if TYPE_CHECKING:
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
    """A run's log, held by the runner: appends without rediscovering anything."""

    def __init__(self, repo: GitRepo, stores: Stores, run_id: str, state: LogState) -> None:
        self.repo = repo
        self.stores = stores
        self.run_id = run_id
        self.capsule = capsule_of(stores)
        self._state = state
        self._documents: dict[str, dict[str, Any]] = {}
        self._paths = source_paths(repo)

    # ---- opening -------------------------------------------------------------------
    @classmethod
    def start(
        cls, repo: RepoLike = None, run_id: str | None = None, *, stores: Stores | None = None
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
        run = cls(git_repo, stores, run_id, LogState())
        policy = PolicyInForce(result.policy_id, result.hash, result.uri, result.commit)
        run._append(POLICY_SNAPSHOT_REF, policy, {"created": result.created}, first=True)
        return run

    @classmethod
    def open(cls, repo: RepoLike, run_id: str, *, stores: Stores | None = None) -> Run:
        from speckit_git_policy.store import Stores

        git_repo = as_repo(repo)
        stores = stores or Stores(git_repo)
        events = read_events(capsule_of(stores), run_id)
        state = LogState.of(events)
        if state.policy is None:
            raise SnapshotCorrupt(f"run {run_id}", "no event names a policy snapshot")
        return cls(git_repo, stores, run_id, state)

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

    # ---- appending -------------------------------------------------------------------
    def stage(self, stage: str, payload: dict[str, str] | None = None) -> Event:
        """Record a ``StageTransition`` (from the current stage to ``stage``)."""
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
        return self._append(STAGE_TRANSITION, policy, {"to": stage}, payload)

    def checkpoint(self, label: str | None = None, payload: dict[str, str] | None = None) -> Event:
        if label is not None:
            _check_text("label", label, LABEL_MAX)
        policy = self._boundary()
        return self._append(CHECKPOINT, policy, {"label": label}, payload)

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
        event_id = str(uuid.uuid4())
        built: list[Event] = []

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
        self.capsule.append_event(self.run_id, build)
        self._state = self._state.after(built[0])
        return built[0].copy()


# ---- the library API (one call each; a runner appending many events holds a Run) ----
def start_run(repo: RepoLike = None, run_id: str | None = None) -> Run:
    """Start a run: capture, store both copies, record ``PolicySnapshotRef``.

    Returns the :class:`Run`; ``run.info()`` has the run id and the snapshot.
    """
    return Run.start(repo, run_id)


def open_run(repo: RepoLike, run_id: str) -> Run:
    """An existing run, ready to append to; NotFound when the capsule has no such run."""
    return Run.open(repo, run_id)


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
