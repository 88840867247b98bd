"""``attest``: a signed in-toto statement of a run, and its offline check (docs/DESIGN.md §8).

The statement (in-toto Statement v1) names as **subjects**:

* the run's log, ``mv2://<ws>/runs/<run_id>``: sha256 of ``[`` + the stored bytes of its
  first N events, in seq order, joined by ``,`` + ``]``, where N is the subject's
  ``annotations.events``. Every event is stored as RFC 8785 canonical JSON, so these
  bytes are also the canonical JSON array of the events: a verifier can recompute the
  digest from ``git speckit-policy run show RUN --json`` (re-canonicalized with any
  RFC 8785 library) or from the blobs under the run's tree (``resolve``). Events
  appended after the attestation are outside it and do not break it; a changed,
  removed or reordered event does;
* each snapshot that governed the run, ``mv2://<ws>/policy/<policy_id>``: sha256 of its
  exact stored bytes (``git speckit-policy show ID --raw | sha256sum``).

Its **predicate** (``PREDICATE_TYPE``) holds the run's record: each snapshot's commit,
author, date, subject and validation result, the stages with the snapshot in force at
each, the decisions, the usage, and every event's own digest (so a mismatch can be
pinned to the event that changed).

The statement is the payload of a DSSE envelope, signed over DSSE's pre-authentication
encoding ``PAE(payloadType, payload)`` with the user's git SSH signing key
(``evidence.sshsig``), namespace ``speckit-git-policy``; the envelope's ``sig`` is the
SSHSIG blob in base64, its ``keyid`` the key's ``SHA256:`` fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speckit_git_policy import __version__, clock
from speckit_git_policy.canonical import canonical_bytes, parse_json_bytes, sha256_hex
from speckit_git_policy.errors import BadInput, SpeckitError
from speckit_git_policy.evidence import sshsig
from speckit_git_policy.evidence.render import visible
from speckit_git_policy.evidence.report import SnapshotDocuments, as_json, run_report

if TYPE_CHECKING:
    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.store import Stores

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://speckit-git-policy.dev/attestation/run/v1"
LOG_DIGEST_RULE = (
    "sha256 of '[' + the stored bytes of the run's first N events in seq order joined by "
    "',' + ']' (N = annotations.events): the RFC 8785 canonical JSON array of those events"
)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def log_bytes(blobs: list[bytes]) -> bytes:
    return b"[" + b",".join(blobs) + b"]"


# ---- the statement --------------------------------------------------------------------
def _policy_record(
    stores: Stores, policy_id: str, traced: dict[str, Any] | None
) -> tuple[bytes, dict[str, Any]]:
    """The snapshot's exact bytes (from a copy whose hash verifies: a snapshot that does
    not verify is never attested) and its predicate entry."""
    data, document = stores.read_verified(policy_id)
    provenance = document.get("provenance")
    provenance = provenance if isinstance(provenance, dict) else {}
    traced = traced or {}
    return data, {
        "policy_id": policy_id,
        "uri": stores.uri(policy_id),
        "hash": document["hash"],
        "created_at": document.get("created_at"),
        "source_files": document.get("source_files"),
        "source_digests": document.get("source_digests"),
        "validated": provenance.get("validated"),
        "trigger": provenance.get("trigger"),
        "captured_from": provenance.get("commit"),
        "tool_version": provenance.get("tool_version"),
        "commit": traced.get("commit"),
        "rewritten_from": traced.get("rewritten_from", []),
        "author": traced.get("author"),
        "date": traced.get("date"),
        "subject": traced.get("subject"),
    }


def statement(repo: GitRepo, run_id: str, *, stores: Stores | None = None) -> dict[str, Any]:
    """The in-toto statement of the run as it stands (unsigned)."""
    from speckit_git_policy.queries.trace import trace
    from speckit_git_policy.runs.events import capsule_of, parse_event
    from speckit_git_policy.store import Stores

    stores = stores or Stores(repo)
    capsule = capsule_of(stores)
    blobs = capsule.run_events(run_id)
    events = [parse_event(data, run_id, seq) for seq, data in enumerate(blobs)]
    run_uri = capsule.run_uri(run_id)
    record = run_report(run_id, run_uri, events, SnapshotDocuments(stores))
    traced = {
        row["policy_id"]: dict(row) for row in trace(repo, run_id, stores=stores)["snapshots"]
    }
    subjects: list[dict[str, Any]] = [
        {
            "name": run_uri,
            "digest": {"sha256": sha256_hex(log_bytes(blobs))},
            "annotations": {"kind": "run-log", "events": len(blobs)},
        }
    ]
    policies = []
    for policy_id in record.policies:
        data, entry = _policy_record(stores, policy_id, traced.get(policy_id))
        subjects.append(
            {
                "name": entry["uri"],
                "digest": {"sha256": sha256_hex(data)},
                "annotations": {"kind": "policy-snapshot", "hash": entry["hash"]},
            }
        )
        policies.append(entry)
    run_json = as_json(record)
    predicate = {
        "run": {
            "run_id": run_id,
            "uri": run_uri,
            "workspace": stores.workspace,
            "started_at": record.started_at,
            "last_at": record.last_at,
            "events": record.events,
        },
        "log": {
            "digest": LOG_DIGEST_RULE,
            "events": [
                {
                    "seq": event["seq"],
                    "event_id": event["event_id"],
                    "type": event["type"],
                    "timestamp": event["timestamp"],
                    "sha256": sha256_hex(data),
                }
                for event, data in zip(events, blobs)
            ],
        },
        "policies": policies,
        "stages": run_json["boundaries"],
        "decisions": run_json["decisions"],
        "usage": run_json["usage"],
        "budgets": {"warn_threshold": record.warn_threshold, "hard_limit": record.hard_limit},
        "repository": {"head": repo.head(), "branch": repo.current_branch()},
        "attester": {
            "name": repo.config_get("user.name"),
            "email": repo.config_get("user.email"),
        },
        "attested_at": clock.now(),
        "generator": {"name": "speckit-git-policy", "version": __version__},
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def envelope(payload: bytes, signature: bytes) -> dict[str, Any]:
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {
                "keyid": sshsig.parse(signature).fingerprint,
                "sig": base64.b64encode(signature).decode("ascii"),
            }
        ],
    }


def attest(repo: GitRepo, run_id: str, *, stores: Stores | None = None) -> dict[str, Any]:
    """The run's statement, signed, as a DSSE envelope."""
    key = sshsig.signing_key(repo)  # before reading anything: a missing key is the likely error
    payload = canonical_bytes(statement(repo, run_id, stores=stores))
    return envelope(payload, sshsig.sign(key, pae(PAYLOAD_TYPE, payload)))


# ---- checking an envelope offline ------------------------------------------------------
@dataclass
class SubjectCheck:
    name: str
    ok: bool
    expected: str | None
    actual: str | None
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "expected": self.expected,
            "actual": self.actual,
            "detail": self.detail,
        }


@dataclass
class Check:
    """What ``attest --verify`` found: ``ok`` when the signature is good, by an allowed
    signer, and every subject's digest matches the capsule."""

    signer: str | None = None
    key: str | None = None
    run_id: str | None = None
    subjects: list[SubjectCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.signer is not None and not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "signer": self.signer,
            "key": self.key,
            "run_id": self.run_id,
            "subjects": [subject.as_json() for subject in self.subjects],
            "problems": self.problems,
            "notes": self.notes,
        }


def _decode(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise BadInput(f"the envelope's {what} is not text")
    try:
        # DSSE allows either base64 alphabet.
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadInput(f"the envelope's {what} is not base64") from e


def read_envelope(data: bytes, where: str) -> tuple[bytes, list[bytes]]:
    """(payload, signature blobs) of a DSSE envelope; BadInput when it is not one."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise BadInput(f"{where} is not a JSON DSSE envelope ({e})") from e
    if not isinstance(document, dict) or "payload" not in document:
        raise BadInput(f"{where} is not a DSSE envelope (no payload)")
    if document.get("payloadType") != PAYLOAD_TYPE:
        raise BadInput(
            f"{where}: payloadType {document.get('payloadType')!r} is not {PAYLOAD_TYPE!r}"
        )
    signatures = document.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise BadInput(f"{where} carries no signature")
    blobs = [
        _decode(item.get("sig") if isinstance(item, dict) else None, "signature")
        for item in signatures
    ]
    return _decode(document["payload"], "payload"), blobs


def verify_envelope(
    repo: GitRepo, data: bytes, allowed_signers: Path, *, where: str = "the envelope"
) -> Check:
    """Check the signature (offline, against ``allowed_signers``), then recompute every
    subject's digest from this repository's capsule."""
    payload, blobs = read_envelope(data, where)
    check = Check()
    failures = []
    for blob in blobs:
        try:
            check.signer, check.key = sshsig.verify(
                repo, blob, pae(PAYLOAD_TYPE, payload), allowed_signers
            )
            break
        except sshsig.SignatureInvalid as e:
            failures.append(e.message)
    if check.signer is None:
        check.problems.extend(failures)
        return check  # nothing in an unsigned statement is worth comparing
    try:
        document = parse_json_bytes(payload)
    except (ValueError, UnicodeDecodeError) as e:
        check.problems.append(f"the signed payload is not JSON ({e})")
        return check
    if not isinstance(document, dict) or document.get("_type") != STATEMENT_TYPE:
        check.problems.append(
            f"the signed payload is not an in-toto Statement v1 ({STATEMENT_TYPE})"
        )
        return check
    if document.get("predicateType") != PREDICATE_TYPE:
        check.problems.append(
            f"predicateType {document.get('predicateType')!r} is not {PREDICATE_TYPE!r}"
        )
        return check
    _check_subjects(repo, document, check)
    return check


def _check_subjects(repo: GitRepo, document: dict[str, Any], check: Check) -> None:
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.capsule.layout import parse_uri

    stores = Stores(repo)
    subjects = document.get("subject")
    if not isinstance(subjects, list) or not subjects:
        check.problems.append("the statement has no subject")
        return
    predicate = document.get("predicate")
    recorded = predicate.get("log", {}).get("events", []) if isinstance(predicate, dict) else []
    for subject in subjects:
        name = subject.get("name") if isinstance(subject, dict) else None
        digest = subject.get("digest") if isinstance(subject, dict) else None
        expected = digest.get("sha256") if isinstance(digest, dict) else None
        if not isinstance(name, str) or not isinstance(expected, str):
            check.problems.append(f"subject {name!r} has no name or sha256 digest")
            continue
        try:
            uri = parse_uri(name)
            if uri.workspace != stores.workspace:
                raise BadInput(
                    f"names workspace {uri.workspace!r}, this repository's is {stores.workspace!r}"
                )
            if uri.kind == "runs":
                check.run_id = uri.ident
                result = _check_log(stores, uri.ident, subject, expected, recorded)
            else:
                result = _check_snapshot(stores, uri.ident, expected)
        except SpeckitError as e:
            result = SubjectCheck(name, False, expected, None, e.message)
        result.name = name
        check.subjects.append(result)
        if not result.ok:
            check.problems.append(f"subject {name}: {result.detail}")
        elif result.detail:
            check.notes.append(f"subject {name}: {result.detail}")


def _check_snapshot(stores: Stores, policy_id: str, expected: str) -> SubjectCheck:
    capsule = stores.capsule
    data = capsule.get_snapshot(policy_id) if capsule is not None else None
    where = "the capsule"
    if data is None:
        data, where = stores.fs.read(policy_id), stores.fs.relative_path(policy_id)
    if data is None:
        return SubjectCheck("", False, expected, None, "the snapshot is in neither copy")
    actual = sha256_hex(data)
    if actual != expected:
        return SubjectCheck(
            "", False, expected, actual, f"sha256 {actual} in {where}, {expected} in the statement"
        )
    return SubjectCheck("", True, expected, actual)


def _check_log(
    stores: Stores, run_id: str, subject: dict[str, Any], expected: str, recorded: list[Any]
) -> SubjectCheck:
    from speckit_git_policy.runs.events import capsule_of

    blobs = capsule_of(stores).run_events(run_id)
    annotations = subject.get("annotations")
    count = annotations.get("events") if isinstance(annotations, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        count = len(blobs)
    if count > len(blobs):
        return SubjectCheck(
            "",
            False,
            expected,
            None,
            f"the statement covers {count} events, the capsule holds {len(blobs)}: events were removed",
        )
    actual = sha256_hex(log_bytes(blobs[:count]))
    if actual != expected:
        changed = _changed_events(blobs, recorded)
        return SubjectCheck(
            "",
            False,
            expected,
            actual,
            f"the log's digest differs: {changed or 'its bytes changed'}",
        )
    later = len(blobs) - count
    detail = f"{later} event(s) appended after the attestation are not covered" if later else ""
    return SubjectCheck("", True, expected, actual, detail)


def _changed_events(blobs: list[bytes], recorded: list[Any]) -> str:
    """Which events differ from the digests the predicate recorded (the predicate is
    signed too, so it says what the log held)."""
    changed = []
    for item in recorded:
        if not isinstance(item, dict) or not isinstance(item.get("seq"), int):
            continue
        seq = item["seq"]
        if seq >= len(blobs) or sha256_hex(blobs[seq]) != item.get("sha256"):
            # The names come from the statement: shown, never able to drive a terminal.
            changed.append(visible(f"seq {seq} ({item.get('type')}, event {item.get('event_id')})"))
    if not changed:
        return ""
    more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
    return "changed event(s): " + ", ".join(changed[:5]) + more
