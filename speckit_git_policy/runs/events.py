"""Events of a run's log: their types, how their bytes are read, and what a payload keeps
under the governing policy's ``capture.mode``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from speckit_git_policy import clock
from speckit_git_policy.canonical import parse_json_bytes
from speckit_git_policy.errors import BadInput, SnapshotCorrupt
from speckit_git_policy.ids import check_run_id
from speckit_git_policy.runs.records import Event, PolicyInForce, check_event

if TYPE_CHECKING:
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.capsule.capsule import Capsule


POLICY_SNAPSHOT_REF = "PolicySnapshotRef"


STAGE_TRANSITION = "StageTransition"


CHECKPOINT = "Checkpoint"


# One LLM call through the call-time guard (docs/DESIGN.md §6): the usage ledger.
USAGE_RECORDED = "UsageRecorded"


# The spec-kit flow; a policy may name more stages in [budgets.tokens].
SPEC_KIT_STAGES = ("specify", "plan", "tasks", "implement")


# What each capture.mode keeps of a payload (docs/DESIGN.md §6). An unknown or missing mode
# (a snapshot that failed validation) keeps nothing: the safe reading.
CAPTURE_MODES: dict[str, tuple[str, ...]] = {
    "none": (),
    "prompts_only": ("prompt",),
    "full_io": ("prompt", "output"),
}


PAYLOAD_PARTS = ("prompt", "output")


LABEL_MAX = 256


STAGE_MAX = 64


class CapsuleDisabled(BadInput):
    """Run logs live in the capsule, which ``speckit.capsule=false`` turns off."""

    def __init__(self) -> None:
        super().__init__(
            "runs cannot be recorded or read: the capsule is turned off "
            "(git config speckit.capsule=false), and run event logs live in the capsule; "
            "turn it back on with: git config speckit.capsule true"
        )


class LogState:
    """What the log says so far: its length, the snapshot in force, the current stage.
    A plain class, as ``PolicyInForce``; treated as immutable."""

    __slots__ = ("length", "policy", "stage", "last_timestamp", "last_event_id")

    def __init__(
        self,
        length: int = 0,
        policy: PolicyInForce | None = None,
        stage: str | None = None,
        last_timestamp: str | None = None,
        last_event_id: str | None = None,
    ) -> None:
        self.length = length
        self.policy = policy
        self.stage = stage
        self.last_timestamp = last_timestamp
        self.last_event_id = last_event_id

    def _key(self) -> tuple[object, ...]:
        return (self.length, self.policy, self.stage, self.last_timestamp, self.last_event_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogState):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"LogState({fields})"

    def after(self, event: Event) -> LogState:
        policy = PolicyInForce.of_event(event) or self.policy
        stage = event.get("to") if event["type"] == STAGE_TRANSITION else self.stage
        timestamp = event["timestamp"]
        last = self.last_timestamp
        if last is None or timestamp > last:
            last = timestamp
        return LogState(self.length + 1, policy, stage, last, event["event_id"])

    @classmethod
    def of(cls, events: list[Event]) -> LogState:
        state = cls()
        for event in events:
            state = state.after(event)
        return state


def capsule_of(stores: Stores) -> Capsule:
    capsule = stores.capsule
    if capsule is None:
        raise CapsuleDisabled()
    return capsule


def parse_event(data: bytes, run_id: str, seq: int) -> Event:
    """The event stored at ``seq`` of the run, checked (``records.check_event``)."""
    where = f"run {run_id} seq {seq}"
    try:
        value = parse_json_bytes(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise SnapshotCorrupt(where, f"event is not valid JSON ({e})") from e
    return check_event(value, where)


def read_events(capsule: Capsule, run_id: str, *, skip_unreadable: bool = False) -> list[Event]:
    """The run's events in seq order; NotFound for an unknown run. An event that does not
    parse raises SnapshotCorrupt, or with ``skip_unreadable`` (the queries that show a run:
    ``trace``, ``blame``) is skipped and noted; ``verify`` reports it either way."""
    from speckit_git_policy.store.capsule.capsule import note

    check_run_id(run_id)
    events = []
    for seq, data in enumerate(capsule.run_events(run_id)):
        try:
            events.append(parse_event(data, run_id, seq))
        except SnapshotCorrupt as e:
            if not skip_unreadable:
                raise
            note(capsule.repo, f"run {run_id}: event at seq {seq} skipped: {e.reason}")
    return events


# ---- who and where (docs/DESIGN.md §6) ----------------------------------------------
TRACE_ID_ENV = "SPECKIT_TRACE_ID"
SESSION_ID_ENV = "SPECKIT_SESSION_ID"
CORRELATION_MAX = 128


def check_correlation_id(kind: str, value: str) -> str:
    """A trace or session id: printable, no white space, at most CORRELATION_MAX characters."""
    if not isinstance(value, str) or not value:
        raise BadInput(f"{kind} is empty")
    if len(value) > CORRELATION_MAX:
        raise BadInput(f"{kind} is longer than {CORRELATION_MAX} characters")
    if not value.isprintable() or any(ch.isspace() for ch in value):
        raise BadInput(f"{kind} {value!r} contains white space or a control character")
    return value


def traceparent_trace_id(header: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``); None for
    a value of another form (someone else's variable: ignored, never an error)."""
    parts = (header or "").strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32:
        return None
    trace_id = parts[1].lower()
    if any(ch not in "0123456789abcdef" for ch in trace_id) or trace_id == "0" * 32:
        return None
    return trace_id


def correlation_ids(
    trace_id: str | None, session_id: str | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """The ``trace_id``/``session_id`` event fields: given, else from the environment
    (``SPECKIT_TRACE_ID``, else OpenTelemetry's ``TRACEPARENT``; ``SPECKIT_SESSION_ID``)."""
    fields: dict[str, str] = {}
    # An empty variable is an unset one; an empty argument is a mistake.
    trace = trace_id if trace_id is not None else (environ.get(TRACE_ID_ENV) or None)
    if trace is None:
        trace = traceparent_trace_id(environ.get("TRACEPARENT"))
    if trace is not None:
        fields["trace_id"] = check_correlation_id("trace id", trace)
    session = session_id if session_id is not None else (environ.get(SESSION_ID_ENV) or None)
    if session is not None:
        fields["session_id"] = check_correlation_id("session id", session)
    return fields


def host_name() -> str:
    """The machine's node name (``os.uname``: no socket import), printable."""
    import os

    try:
        name = os.uname().nodename
    except AttributeError:  # not POSIX
        import platform

        name = platform.node()
    return "".join(ch for ch in name if ch.isprintable()) or "unknown"


def new_run_id() -> str:
    from speckit_git_policy.ids import new_uuid4

    return f"run-{clock.run_stamp()}-{new_uuid4()[:8]}"  # 8 random hex digits


class PayloadFields(TypedDict, total=False):
    """What a payload adds to an event (``filter_payload``)."""

    capture_mode: str | None
    payload: dict[str, str]
    dropped: list[str]


def filter_payload(payload: Mapping[str, object] | None, mode: str | None) -> PayloadFields:
    """The event fields a payload becomes under ``capture.mode``: what is kept, and
    what was dropped, named, so that an absent output is never mistaken for none."""
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise BadInput("a payload must be an object with 'prompt' and/or 'output'")
    unknown = sorted(set(payload) - set(PAYLOAD_PARTS))
    if unknown:
        raise BadInput(f"payload key {unknown[0]!r} is not one of {', '.join(PAYLOAD_PARTS)}")
    texts: dict[str, str] = {}
    for part, text in payload.items():
        if not isinstance(text, str):
            raise BadInput(f"payload {part!r} must be text, not {type(text).__name__}")
        texts[part] = text
    effective = mode if mode in CAPTURE_MODES else "none"
    kept = {part: text for part, text in texts.items() if part in CAPTURE_MODES[effective]}
    dropped = [part for part in PAYLOAD_PARTS if part in texts and part not in kept]
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
