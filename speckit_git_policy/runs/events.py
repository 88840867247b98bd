"""Events of a run's log: their types, how their bytes are read, and what a payload keeps
under the governing policy's ``capture.mode``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from speckit_git_policy import clock
from speckit_git_policy.canonical import parse_json_bytes
from speckit_git_policy.errors import BadInput, SnapshotCorrupt
from speckit_git_policy.ids import check_run_id

if TYPE_CHECKING:
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.capsule.capsule import Capsule


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
    return f"run-{clock.run_stamp()}-{uuid.uuid4().hex[:8]}"


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
