"""The records of a run's log: the snapshot in force (:class:`PolicyInForce`), the event
(:class:`Event`), and :func:`check_event`, the one way an event's JSON becomes an Event.

``PolicyInForce`` is both what governs a run's events (``Run.governing``) and what
enforcement decides under (``enforce.policy_in_force``, which also loads the document).
"""

from __future__ import annotations

from types import UnionType
from typing import Any, TypedDict, Union, cast, get_args, get_origin, get_type_hints

from speckit_git_policy.errors import SnapshotCorrupt


class PolicyInForce:
    """A stored snapshot in force, and the commit its sources were read at (None: the
    work tree's uncommitted edits). ``document`` is the snapshot itself when it was
    loaded (enforcement loads it, verified and validated; a run's log only names it),
    left out of equality, hash and repr.

    A plain class, not a dataclass: dataclasses imports inspect, ast and dis, and
    ``run checkpoint`` runs without them (cli/fast.py). Treated as immutable."""

    __slots__ = ("policy_id", "policy_hash", "policy_uri", "commit", "document")

    def __init__(
        self,
        policy_id: str,
        policy_hash: str,
        policy_uri: str,
        commit: str | None,
        document: dict[str, Any] | None = None,
    ) -> None:
        self.policy_id = policy_id
        self.policy_hash = policy_hash
        self.policy_uri = policy_uri
        self.commit = commit
        self.document = document

    def _key(self) -> tuple[str, str, str, str | None]:
        return (self.policy_id, self.policy_hash, self.policy_uri, self.commit)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolicyInForce):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"PolicyInForce(policy_id={self.policy_id!r}, policy_hash={self.policy_hash!r}, "
            f"policy_uri={self.policy_uri!r}, commit={self.commit!r})"
        )

    def ref(self) -> dict[str, str]:
        """The fields every event and decision names its snapshot by."""
        return {
            "policy_id": self.policy_id,
            "policy_hash": self.policy_hash,
            "policy_uri": self.policy_uri,
        }

    def block(self, *path: str) -> dict[str, Any]:
        """The table at ``path`` of the snapshot's document (SnapshotCorrupt without one)."""
        value: Any = self.document
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, dict):
            raise SnapshotCorrupt(self.policy_uri, f"has no table {'.'.join(path)}")
        return value

    @classmethod
    def of_event(cls, event: Event) -> PolicyInForce | None:
        """The snapshot an event names; None when it names none."""
        policy_id = event.get("policy_id")
        if policy_id is None:
            return None
        return cls(
            policy_id,
            str(event.get("policy_hash")),
            str(event.get("policy_uri")),
            event.get("commit"),
        )


class _EventRequired(TypedDict):
    event_id: str
    seq: int
    timestamp: str
    type: str


class _EventRef(TypedDict, total=False):
    """The run and the snapshot in force: every event this tool writes has them."""

    run_id: str
    policy_id: str
    policy_uri: str
    policy_hash: str
    commit: str | None
    # Who and where (docs/DESIGN.md §6): absent from events written before they existed.
    actor: str
    host: str
    tool_version: str
    trace_id: str
    session_id: str


# The fields that depend on the event's type. "from" is a keyword: hence the
# functional syntax.
EventBody = TypedDict(
    "EventBody",
    {
        "created": bool,  # PolicySnapshotRef: this start captured the snapshot
        "from": str | None,  # StageTransition
        "to": str,  # StageTransition
        "label": str | None,  # Checkpoint
        "policy_changed": bool,  # StageTransition, Checkpoint
        "replaced_policy_id": str,  # ... when the policy changed at this boundary
        "replaced_policy_hash": str,
        "capture_mode": str | None,  # an event that carried a payload
        "payload": dict[str, str],
        "dropped": list[str],
        "decision": dict[str, Any],  # a decision: ``Decision.as_event()`` less its policy
        "via": str,  # who recorded a stage: workflow, hook, event, inferred (Spec Kit)
        # UsageRecorded (docs/DESIGN.md §6): one LLM call through the call-time guard
        "stage": str,
        "role": str,
        "api": str,
        "model_requested": str,
        "model_served": str | None,
        "input_tokens": int | None,
        "output_tokens": int | None,
        "cost": float | int | None,
        "cost_reason": str,
        "streamed": bool,
        "complete": bool,
        "request_id": str | None,
        "usage": dict[str, Any],
    },
    total=False,
)


class Event(_EventRequired, _EventRef, EventBody):
    """One event of a run's log, as stored (canonical JSON); fields a later version adds
    are kept when read."""


def _runtime_types(hint: Any) -> tuple[type, ...]:
    """The classes ``isinstance`` checks a field's annotation by (``str | None`` → str, None)."""
    if get_origin(hint) in (Union, UnionType):
        return tuple(t for arg in get_args(hint) for t in _runtime_types(arg))
    if get_origin(hint) is not None:
        return (get_origin(hint),)  # dict[str, str] → dict: the items are checked apart
    return (hint,) if isinstance(hint, type) else (object,)


# What each field must hold, from the annotations above, checked on read: the capsule
# is written by other clones and other versions too.
_FIELD_TYPES = {key: _runtime_types(hint) for key, hint in get_type_hints(Event).items()}
_REQUIRED = tuple(_EventRequired.__annotations__)


def check_event(value: object, where: str) -> Event:
    """An Event from parsed JSON: SnapshotCorrupt naming ``where`` when it is not an
    object, lacks a required field, or holds a known field of the wrong type."""
    if not isinstance(value, dict):
        raise SnapshotCorrupt(where, "event is not a JSON object")
    for key in _REQUIRED:
        if key not in value:
            raise SnapshotCorrupt(where, f"event has no {key}")
    for key, types in _FIELD_TYPES.items():
        if key in value and not _holds(value[key], types):
            raise SnapshotCorrupt(where, f"event field {key!r} holds {_json_type(value[key])}")
    payload, dropped = value.get("payload", {}), value.get("dropped", [])
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in payload.items()):
        raise SnapshotCorrupt(where, "event field 'payload' is not an object of texts")
    if not all(isinstance(part, str) for part in dropped):
        raise SnapshotCorrupt(where, "event field 'dropped' is not a list of texts")
    return cast(Event, value)  # checked field by field above


def _holds(item: object, types: tuple[type, ...]) -> bool:
    if isinstance(item, bool):
        return bool in types  # JSON true/false is no seq, though Python counts it an int
    return isinstance(item, types)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"
