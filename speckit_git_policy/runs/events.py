"""Events of a run's log: their types, how their bytes are read, and what a payload keeps
under the governing policy's ``capture.mode``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class LogState:
    """What the log says so far: its length, the snapshot in force, the current stage."""

    length: int = 0
    policy: PolicyInForce | None = None
    stage: str | None = None
    last_timestamp: str | None = None

    def after(self, event: Event) -> LogState:
        policy = PolicyInForce.of_event(event) or self.policy
        stage = event.get("to") if event["type"] == STAGE_TRANSITION else self.stage
        timestamp = event["timestamp"]
        last = self.last_timestamp
        if last is None or timestamp > last:
            last = timestamp
        return LogState(self.length + 1, policy, stage, last)

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


def read_events(capsule: Capsule, run_id: str) -> list[Event]:
    """The run's events in seq order; NotFound for an unknown run."""
    check_run_id(run_id)
    return [parse_event(data, run_id, seq) for seq, data in enumerate(capsule.run_events(run_id))]


def new_run_id() -> str:
    return f"run-{clock.run_stamp()}-{uuid.uuid4().hex[:8]}"


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
