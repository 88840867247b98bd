"""Runs and their event logs (SPEC §5 run start and stage boundary, §6, §8 event lint).

A run's log lives in the capsule (``mv2://<workspace>/runs/<run_id>``); every event
is bound to the policy snapshot in force when it was appended. An agent runner
holds a :class:`Run` and appends through it, so that the repository is discovered,
the stores opened and the snapshot loaded once, not once per event::

    from speckit_git_policy import start_run

    run = start_run(".")                       # PolicySnapshotRef, seq 0
    run.stage("plan")                          # StageTransition None -> plan
    run.decision(route_decision.as_event())    # a decision of SPEC §7, mid-stage
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

import datetime
import difflib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .canonical import canonical_bytes, parse_json_bytes, sha256_hex
from .errors import BadInput, PolicyInvalid, SnapshotCorrupt, SpeckitError
from .gitio import GitRepo
from .ids import check_run_id
from .sources import WORKTREE, Sources, read_sources, source_paths

if TYPE_CHECKING:
    from .snapshot import Compiled
    from .store import Stores
    from .store.capsule import Capsule

POLICY_SNAPSHOT_REF = "PolicySnapshotRef"
STAGE_TRANSITION = "StageTransition"
CHECKPOINT = "Checkpoint"
BUILTIN_TYPES = (POLICY_SNAPSHOT_REF, STAGE_TRANSITION, CHECKPOINT)
# The spec-kit flow; a policy may name more stages in [budgets.tokens].
SPEC_KIT_STAGES = ("specify", "plan", "tasks", "implement")
# What each capture.mode keeps of a payload (SPEC §6). An unknown or missing mode
# (a snapshot that failed validation) keeps nothing: the safe reading.
CAPTURE_MODES: dict[str, tuple[str, ...]] = {
    "none": (),
    "prompts_only": ("prompt",),
    "full_io": ("prompt", "output"),
}
PAYLOAD_PARTS = ("prompt", "output")
LABEL_MAX = 256
STAGE_MAX = 64

RepoLike = GitRepo | str | Path | None


class CapsuleDisabled(BadInput):
    """Run logs live in the capsule, which ``speckit.capsule=false`` turns off."""

    def __init__(self) -> None:
        super().__init__(
            "runs cannot be recorded or read: the capsule is turned off "
            "(git config speckit.capsule=false), and run event logs live in the capsule; "
            "turn it back on with: git config speckit.capsule true"
        )


@dataclass(frozen=True)
class Governing:
    """The snapshot that governs a run's events, and the commit its sources were read at."""

    policy_id: str
    policy_hash: str
    policy_uri: str
    commit: str | None


@dataclass(frozen=True)
class LogState:
    """What the log says so far: its length, the snapshot in force, the current stage."""

    length: int = 0
    policy: Governing | None = None
    stage: str | None = None
    last_timestamp: str | None = None

    def after(self, event: dict[str, Any]) -> LogState:
        policy = self.policy
        if isinstance(event.get("policy_id"), str):
            policy = Governing(
                policy_id=event["policy_id"],
                policy_hash=str(event.get("policy_hash")),
                policy_uri=str(event.get("policy_uri")),
                commit=event.get("commit") if isinstance(event.get("commit"), str) else None,
            )
        stage = event.get("to") if event.get("type") == STAGE_TRANSITION else self.stage
        timestamp = event.get("timestamp")
        last = self.last_timestamp
        if isinstance(timestamp, str) and (last is None or timestamp > last):
            last = timestamp
        return LogState(self.length + 1, policy, stage if isinstance(stage, str) else None, last)

    @classmethod
    def of(cls, events: list[dict[str, Any]]) -> LogState:
        state = cls()
        for event in events:
            state = state.after(event)
        return state


def as_repo(repo: RepoLike) -> GitRepo:
    return repo if isinstance(repo, GitRepo) else GitRepo.discover(repo)


def capsule_of(stores: Stores) -> Capsule:
    capsule = stores.capsule
    if capsule is None:
        raise CapsuleDisabled()
    return capsule


def parse_event(data: bytes, run_id: str, seq: int) -> dict[str, Any]:
    try:
        event = parse_json_bytes(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise SnapshotCorrupt(f"run {run_id} seq {seq}", f"event is not valid JSON ({e})") from e
    if not isinstance(event, dict):
        raise SnapshotCorrupt(f"run {run_id} seq {seq}", "event is not a JSON object")
    return event


def read_events(capsule: Capsule, run_id: str) -> list[dict[str, Any]]:
    """The run's events in seq order; NotFound for an unknown run."""
    check_run_id(run_id)
    return [parse_event(data, run_id, seq) for seq, data in enumerate(capsule.run_events(run_id))]


def new_run_id() -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"run-{stamp}-{uuid.uuid4().hex[:8]}"


def next_timestamp(last: str | None) -> str:
    """UTC now with microseconds, strictly after ``last``: a merge orders a run's
    events by timestamp, so one writer's events must never tie or go backwards."""
    now = datetime.datetime.now(datetime.timezone.utc)
    if last is not None:
        try:
            previous = datetime.datetime.strptime(last, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc
            )
        except ValueError:
            previous = None
        if previous is not None and now <= previous:
            now = previous + datetime.timedelta(microseconds=1)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def filter_payload(payload: dict[str, Any] | None, mode: str | None) -> dict[str, Any]:
    """The event fields a payload becomes under ``capture.mode``: what is kept, and
    what was dropped, named, so that an absent output is never mistaken for none."""
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise BadInput("a payload must be an object with 'prompt' and/or 'output'")
    unknown = sorted(set(payload) - set(PAYLOAD_PARTS))
    if unknown:
        raise BadInput(f"payload key {unknown[0]!r} is not one of {', '.join(PAYLOAD_PARTS)}")
    for part, text in payload.items():
        if not isinstance(text, str):
            raise BadInput(f"payload {part!r} must be text, not {type(text).__name__}")
    effective = mode if mode in CAPTURE_MODES else "none"
    kept = {part: text for part, text in payload.items() if part in CAPTURE_MODES[effective]}
    dropped = [part for part in PAYLOAD_PARTS if part in payload and part not in kept]
    return {"capture_mode": mode, "payload": kept, "dropped": dropped}


def known_stages(document: dict[str, Any]) -> list[str]:
    tokens = (document.get("budgets") or {}).get("tokens") or {}
    extra = sorted(name for name in tokens if name not in SPEC_KIT_STAGES)
    return [*SPEC_KIT_STAGES, *extra]


def _check_text(kind: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{kind} is empty")
    if len(value) > limit:
        raise BadInput(f"{kind} is longer than {limit} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise BadInput(f"{kind} {value!r} contains a control character")
    return value


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
    def start(cls, repo: RepoLike = None, run_id: str | None = None,
              *, stores: Stores | None = None) -> Run:
        """Capture the policy (reusing the snapshot of the same content) and record
        ``PolicySnapshotRef`` as the run's first event."""
        from .capture import read_for_capture, store_compiled
        from .snapshot import compile_sources
        from .store import Stores

        git_repo = as_repo(repo)
        stores = stores or Stores(git_repo)
        capsule = capsule_of(stores)
        run_id = check_run_id(run_id) if run_id is not None else new_run_id()
        if capsule.has_run(run_id):
            raise BadInput(f"run {run_id!r} already exists; pick another --run-id")
        # capture(), with the validity check before anything is written.
        sources, commit = read_for_capture(git_repo, None)
        compiled = _checked(compile_sources(sources))
        result = store_compiled(git_repo, compiled, commit, "run_start", stores)
        run = cls(git_repo, stores, run_id, LogState())
        policy = Governing(result.policy_id, result.hash, result.uri, result.commit)
        run._append(POLICY_SNAPSHOT_REF, policy, {"created": result.created}, first=True)
        return run

    @classmethod
    def open(cls, repo: RepoLike, run_id: str, *, stores: Stores | None = None) -> Run:
        from .store import Stores

        git_repo = as_repo(repo)
        stores = stores or Stores(git_repo)
        events = read_events(capsule_of(stores), run_id)
        state = LogState.of(events)
        if state.policy is None:
            raise SnapshotCorrupt(f"run {run_id}", "no event names a policy snapshot")
        return cls(git_repo, stores, run_id, state)

    # ---- what the runner reads -----------------------------------------------------
    @property
    def governing(self) -> Governing:
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

    def info(self) -> dict[str, Any]:
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

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.capsule, self.run_id)

    # ---- appending -------------------------------------------------------------------
    def stage(self, stage: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record a ``StageTransition`` (from the current stage to ``stage``)."""
        _check_text("stage", stage, STAGE_MAX)
        policy = self._boundary()
        stages = known_stages(self._document(policy.policy_id))
        if stage not in stages:
            close = difflib.get_close_matches(stage, stages, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise BadInput(f"unknown stage {stage!r} (this policy knows {', '.join(stages)}){hint}")
        if stage == self.current_stage:
            raise BadInput(f"run {self.run_id!r} is already in stage {stage!r}")
        return self._append(STAGE_TRANSITION, policy, {"to": stage}, payload)

    def checkpoint(self, label: str | None = None,
                   payload: dict[str, Any] | None = None) -> dict[str, Any]:
        if label is not None:
            _check_text("label", label, LABEL_MAX)
        policy = self._boundary()
        return self._append(CHECKPOINT, policy, {"label": label}, payload)

    def decision(self, decision: dict[str, Any]) -> dict[str, Any]:
        """Record a decision of SPEC §7 (``Decision.as_event()``) under the snapshot in force.

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
        body = {k: v for k, v in decision.items() if k not in ("type", "policy_id", "policy_hash", "policy_uri")}
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

    def _boundary(self) -> Governing:
        """The snapshot for the stage that starts now: the current one while the work
        tree's sources are byte-identical to its sources, else a fresh capture."""
        current = self.governing
        sources = read_sources(self.repo, WORKTREE, self._paths)
        if self._sources_match(current.policy_id, sources):
            return current
        from .capture import store_compiled, worktree_matches_commit
        from .snapshot import compile_sources

        compiled = _checked(compile_sources(sources))
        if compiled.hash == current.policy_hash:
            return current
        head = self.repo.head()
        commit = head if head is not None and worktree_matches_commit(self.repo, sources, head) else None
        result = store_compiled(self.repo, compiled, commit, "stage_boundary", self.stores)
        return Governing(result.policy_id, result.hash, result.uri, commit)

    def _sources_match(self, policy_id: str, sources: Sources) -> bool:
        document = self._document(policy_id)
        digests = document.get("source_digests") or {}
        if sorted(sources.files) != sorted(digests):
            return False
        return all(sha256_hex(data) == digests[path] for path, data in sources.files.items())

    def _append(self, kind: str, policy: Governing | None, fields: dict[str, Any],
                payload: dict[str, Any] | None = None, *, first: bool = False) -> dict[str, Any]:
        """Append one event. ``policy`` None: the snapshot in force as of the event's seq."""
        event_id = str(uuid.uuid4())
        built: dict[str, Any] = {}

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
            event: dict[str, Any] = {
                "event_id": event_id,
                "run_id": self.run_id,
                "seq": seq,
                "timestamp": next_timestamp(state.last_timestamp),
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
                event.update(filter_payload(payload, mode if isinstance(mode, str) else None))
            built.clear()
            built.update(event)
            return canonical_bytes(event)

        if payload is not None:
            filter_payload(payload, "none")  # refuse a malformed payload before anything is written
        self.capsule.append_event(self.run_id, build)
        self._state = self._state.after(built)
        return dict(built)


# ---- the library API (one call each; a runner appending many events holds a Run) ----
def start_run(repo: RepoLike = None, run_id: str | None = None) -> Run:
    """Start a run: capture, store both copies, record ``PolicySnapshotRef``.

    Returns the :class:`Run`; ``run.info()`` has the run id and the snapshot.
    """
    return Run.start(repo, run_id)


def open_run(repo: RepoLike, run_id: str) -> Run:
    """An existing run, ready to append to; NotFound when the capsule has no such run."""
    return Run.open(repo, run_id)


def stage(repo: RepoLike, run_id: str, stage: str,
          payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return Run.open(repo, run_id).stage(stage, payload)


def checkpoint(repo: RepoLike, run_id: str, label: str | None = None,
               payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return Run.open(repo, run_id).checkpoint(label, payload)


def append_decision(repo: RepoLike, run_id: str, decision: dict[str, Any]) -> dict[str, Any]:
    """Record a decision of SPEC §7 (``decision.as_event()``) in the run's log."""
    return Run.open(repo, run_id).decision(decision)


def run_events(repo: RepoLike, run_id: str) -> list[dict[str, Any]]:
    from .store import Stores

    return read_events(capsule_of(Stores(as_repo(repo))), run_id)


def list_runs(repo: RepoLike = None) -> list[dict[str, Any]]:
    """Every run with its first and last event, newest start first."""
    from .store import Stores

    capsule = capsule_of(Stores(as_repo(repo)))
    rows = []
    # Per run, the first and last events (every event carries the policy in force;
    # appends and merges keep the log in timestamp order, so the last is the
    # latest), and for the stage the log back to its last StageTransition.
    for summary in capsule.run_summaries():
        run_id = summary["run_id"]
        first = parse_event(summary["first"], run_id, 0)
        last = parse_event(summary["last"], run_id, summary["events"] - 1)
        state = LogState.of([first, last])
        rows.append({
            "run_id": run_id,
            "uri": capsule.run_uri(run_id),
            "events": summary["events"],
            "started_at": first.get("timestamp"),
            "last_at": state.last_timestamp,
            "stage": _current_stage(capsule, run_id, summary["events"]),
            "policy_id": state.policy.policy_id if state.policy else None,
        })
    rows.sort(key=lambda row: (row["started_at"] or "", row["run_id"]), reverse=True)
    return rows


def _current_stage(capsule: Capsule, run_id: str, length: int) -> str | None:
    for back, data in enumerate(capsule.run_events_backward(run_id)):
        event = parse_event(data, run_id, length - 1 - back)
        if event.get("type") == STAGE_TRANSITION:
            stage = event.get("to")
            return stage if isinstance(stage, str) else None
    return None


# ---- event lint (SPEC §8), for verify ------------------------------------------------
def lint_events(repo: RepoLike = None, stores: Stores | None = None) -> list[dict[str, Any]]:
    """Every event whose snapshot reference does not hold: [{"run_id", "seq", "message", "uri"}].

    Each event's ``policy_uri`` must name this workspace's snapshot ``policy_id``,
    which must be stored, verify, and have the event's ``policy_hash``.
    """
    from .store import Stores

    git_repo = as_repo(repo)
    stores = stores or Stores(git_repo)
    capsule = stores.capsule
    if capsule is None:
        return []  # no capsule, no run logs to lint
    verdicts: dict[str, str | dict[str, Any]] = {}  # policy_id -> document or failure

    def snapshot(policy_id: str) -> str | dict[str, Any]:
        if policy_id not in verdicts:
            try:
                verdicts[policy_id] = stores.load(policy_id)
            except SpeckitError as e:
                verdicts[policy_id] = str(e)
        return verdicts[policy_id]

    problems: list[dict[str, Any]] = []
    for run_id in capsule.run_ids():
        try:
            raw = capsule.run_events(run_id)
        except SpeckitError as e:
            problems.append({"run_id": run_id, "seq": None, "uri": None, "message": str(e)})
            continue
        for seq, data in enumerate(raw):
            for message in _event_problems(stores, snapshot, run_id, seq, data):
                problems.append({"run_id": run_id, "seq": seq, "uri": capsule.run_uri(run_id),
                                 "message": message})
    return problems


def _event_problems(stores: Stores, snapshot: Any, run_id: str, seq: int, data: bytes) -> list[str]:
    try:
        event = parse_event(data, run_id, seq)
    except SnapshotCorrupt as e:
        return [e.reason]
    problems = []
    if event.get("seq") != seq:
        problems.append(f"records seq {event.get('seq')!r} at position {seq}")
    policy_id, uri, recorded = event.get("policy_id"), event.get("policy_uri"), event.get("policy_hash")
    if not isinstance(policy_id, str) or not isinstance(uri, str):
        return [*problems, f"{event.get('type')} event names no policy snapshot"]
    try:
        expected_uri = stores.uri(policy_id)
    except SpeckitError:
        expected_uri = None
    if uri != expected_uri:
        problems.append(f"policy_uri {uri} does not name snapshot {policy_id} of this workspace")
    found = snapshot(policy_id)
    if isinstance(found, str):
        problems.append(f"policy_uri {uri} does not resolve to a verified snapshot: {found}")
    elif found.get("hash") != recorded:
        problems.append(f"policy_hash {recorded} does not match snapshot {policy_id} (hash {found.get('hash')})")
    return problems
