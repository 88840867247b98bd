"""PolicySnapshot 1.0 (docs/DESIGN.md §3): compile sources, canonical bytes, content hash, load.

``hash`` is the SHA-256 of the RFC 8785 canonical JSON of the *content* — the
schema version, the policy blocks, ``source_files`` and ``source_digests`` — and
of nothing else, so identical inputs always give the same hash while the
snapshot's identity (``policy_id``), time and provenance stay outside it.
"""

from __future__ import annotations

from speckit_git_policy import __version__
from speckit_git_policy.errors import PolicyInvalid, PolicyIssue, SnapshotCorrupt
from speckit_git_policy.ids import is_policy_id
from speckit_git_policy.policy.sources import Sources

# typing is for type checkers only, and canonical JSON (rfc8785, which imports
# typing) is imported where a hash is taken: pre-commit compiles without either.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = "1.0"
SUPPORTED_MAJOR = 1
# The policy tables of docs/DESIGN.md §2, as checks.POLICY_BLOCKS (tests/test_snapshot.py holds
# the two equal): written out here so that a capture served from the compiled cache
# does not import the TOML checker at all.
POLICY_BLOCKS = (
    "routing",
    "capture",
    "budgets",
    "gates",
    "model_config",
    "weights",
    "prompts",
    "pricing",
)
# Tables added after snapshots existed: in the content (and so the hash) only when the policy
# gives them a value, so that a policy without one keeps the hash it always had. An empty
# [pricing] prices nothing, as no [pricing] does.
OPTIONAL_BLOCKS = ("pricing",)
REQUIRED_BLOCKS = tuple(name for name in POLICY_BLOCKS if name not in OPTIONAL_BLOCKS)
# What every snapshot's content has; an optional block joins it when present.
CONTENT_KEYS = ("schema_version", *REQUIRED_BLOCKS, "source_files", "source_digests")
TRIGGERS = (
    "commit",
    "merge",
    "rewrite",
    "applypatch",
    "run_start",
    "stage_boundary",
    "manual",
    "adoption",  # init/install in a repository whose HEAD already carries a policy
    "backfill",  # `backfill`: a commit made before the tool was adopted
)


class Compiled:
    """A snapshot's content before it gets an identity.

    A plain class, not a dataclass: importing dataclasses costs a git hook more
    than compiling the policy does.
    """

    __slots__ = ("content", "hash", "validated", "issues", "parts")

    def __init__(
        self,
        content: dict[str, Any],
        hash: str,
        validated: bool,  # noqa: A002 -- the snapshot's field name
        issues: tuple[PolicyIssue, ...],
        parts: dict[str, bytes] | None = None,
    ) -> None:
        self.content = content
        self.hash = hash
        self.validated = validated
        self.issues = issues
        # The canonical bytes of each member of ``content`` (``content_parts``), when
        # known: a snapshot document is then assembled from them (``document_bytes_of``).
        self.parts = parts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Compiled) and (
            self.content,
            self.hash,
            self.validated,
            self.issues,
        ) == (other.content, other.hash, other.validated, other.issues)

    __hash__ = None  # type: ignore[assignment]  # mutable content: not hashable

    def __repr__(self) -> str:
        return f"Compiled(hash={self.hash!r}, validated={self.validated!r}, issues={self.issues!r})"


def content_hash(content: dict[str, Any]) -> str:
    from speckit_git_policy.canonical import canonical_bytes, sha256_hex

    hashed = {key: content[key] for key in CONTENT_KEYS}
    hashed.update({key: content[key] for key in OPTIONAL_BLOCKS if key in content})
    return sha256_hex(canonical_bytes(hashed))


def content_parts(content: dict[str, Any]) -> dict[str, bytes]:
    """The canonical bytes of each member of ``content``."""
    from speckit_git_policy.canonical import canonical_bytes

    return {key: canonical_bytes(value) for key, value in content.items()}


def hash_of_parts(parts: dict[str, bytes]) -> str | None:
    """``content_hash`` of the content ``parts`` were made from (None: names that are not
    plain text, which ``content_hash`` handles instead)."""
    from speckit_git_policy.canonical import object_bytes, sha256_hex

    hashed = {key: parts[key] for key in CONTENT_KEYS}
    hashed.update({key: parts[key] for key in OPTIONAL_BLOCKS if key in parts})
    data = object_bytes(hashed)
    return sha256_hex(data) if data is not None else None


def compile_sources(sources: Sources) -> Compiled:
    """Compile the policy blocks from the sources (``compile_content``) and hash them."""
    content, validated, issues = compile_content(sources)
    parts = content_parts(content)
    digest = hash_of_parts(parts) or content_hash(content)
    return Compiled(content, digest, validated, issues, parts)


def compile_content(sources: Sources) -> tuple[dict[str, Any], bool, tuple[PolicyIssue, ...]]:
    """A snapshot's content compiled from the sources, whether it validates, and its issues.

    A policy that parses and that JSON can carry but fails §2 still compiles, with
    its tables as written and ``validated`` false: a commit made with
    ``--no-verify`` gets its snapshot, marked. TOML that does not parse, or values
    JSON cannot carry exactly, cannot be snapshotted and raise PolicyInvalid.
    """
    from speckit_git_policy.policy.checker import FREE_FORM_TABLES, check_document, parse_toml

    policy_file = sources.paths.policy
    document, lines = parse_toml(sources.policy_bytes, policy_file)
    issues: tuple[PolicyIssue, ...] = ()
    try:
        blocks = check_document(document, lines, policy_file)
        validated = True
    except PolicyInvalid as invalid:
        unrepresentable = [
            i
            for i in invalid.issues
            if i.key.split(".")[0] in FREE_FORM_TABLES and "JSON" in i.message
        ]
        if unrepresentable:
            raise PolicyInvalid(unrepresentable) from invalid
        issues = tuple(invalid.issues)
        validated = False
        blocks = {name: document.get(name, {}) for name in POLICY_BLOCKS}
        from speckit_git_policy.canonical import canonical_bytes

        try:
            canonical_bytes(blocks)
        except Exception as e:  # a date-time or huge int outside the free-form tables
            raise PolicyInvalid(list(invalid.issues)) from e
    from speckit_git_policy.policy.lint import doc_issues

    empty_doc = doc_issues(sources)
    if empty_doc:
        validated = False
        issues = (*issues, *empty_doc)
    for name in OPTIONAL_BLOCKS:
        if not blocks.get(name):
            blocks.pop(name, None)
    content: dict[str, Any] = {"schema_version": SCHEMA_VERSION, **blocks}
    from speckit_git_policy.hashing import sha256_hex

    content["source_files"] = sorted(sources.files)
    content["source_digests"] = {
        path: sha256_hex(data) for path, data in sorted(sources.files.items())
    }
    return content, validated, issues


def build_document(
    compiled: Compiled,
    policy_id: str,
    *,
    created_at: str,
    commit: str | None,
    trigger: str,
) -> dict[str, Any]:
    return {
        **compiled.content,
        "policy_id": policy_id,
        "hash": compiled.hash,
        "created_at": created_at,
        "provenance": {
            "commit": commit,
            "dirty": commit is None,
            "trigger": trigger,
            "validated": compiled.validated,
            "tool_version": __version__,
        },
    }


def document_bytes(document: dict[str, Any]) -> bytes:
    """The exact bytes stored on disk and in the capsule."""
    from speckit_git_policy.canonical import canonical_bytes

    return canonical_bytes(document)


def document_bytes_of(
    compiled: Compiled, policy_id: str, *, created_at: str, commit: str | None, trigger: str
) -> bytes:
    """``document_bytes(build_document(...))``, assembled from ``compiled.parts`` when it
    has them: the post-commit hook then writes a snapshot without canonicalizing the
    policy again (nor importing json or the RFC 8785 encoder)."""
    document = build_document(
        compiled, policy_id, created_at=created_at, commit=commit, trigger=trigger
    )
    if compiled.parts is not None and set(compiled.parts) == set(compiled.content):
        from speckit_git_policy.canonical import object_bytes, plain_bytes

        parts = dict(compiled.parts)
        for key in [k for k in document if document[k] is not compiled.content.get(k)]:
            encoded = plain_bytes(document[key])
            if encoded is None:
                break
            parts[key] = encoded
        else:
            assembled = object_bytes(parts)
            if assembled is not None:
                return assembled
    return document_bytes(document)


def load_document(data: bytes, where: str) -> dict[str, Any]:
    """Parse stored snapshot bytes, refuse an unknown major version, verify the hash."""
    from speckit_git_policy.canonical import parse_json_bytes

    try:
        document = parse_json_bytes(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise SnapshotCorrupt(where, f"not valid JSON ({e})") from e
    if not isinstance(document, dict):
        raise SnapshotCorrupt(where, "not a JSON object")
    version = document.get("schema_version")
    if not isinstance(version, str) or not version.split(".")[0].isdigit():
        raise SnapshotCorrupt(where, f"schema_version {version!r} is not a version string")
    if int(version.split(".")[0]) != SUPPORTED_MAJOR:
        raise SnapshotCorrupt(
            where,
            f"schema_version {version} is not supported (this tool reads {SUPPORTED_MAJOR}.x); "
            "upgrade speckit-git-policy",
        )
    missing = [
        key for key in (*CONTENT_KEYS, "policy_id", "hash", "created_at") if key not in document
    ]
    if missing:
        raise SnapshotCorrupt(where, f"missing {', '.join(missing)}")
    if not isinstance(document["policy_id"], str) or not is_policy_id(document["policy_id"]):
        raise SnapshotCorrupt(where, f"policy_id {document['policy_id']!r} is not a uuid4")
    try:
        actual = content_hash(document)
    except Exception as e:
        raise SnapshotCorrupt(where, f"content cannot be canonicalized ({e})") from e
    if actual != document["hash"]:
        raise SnapshotCorrupt(
            where, f"hash mismatch: recorded {document['hash']}, content hashes to {actual}"
        )
    return document


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key → leaf value (arrays are leaves), for diffs and blame.

    Iterative: a stored snapshot is read from another clone too, and its depth is
    not ours to bound."""
    flat: dict[str, Any] = {}
    stack: list[tuple[str, Any]] = [(prefix, value)]
    while stack:
        key, item = stack.pop()
        if isinstance(item, dict) and item:
            stack.extend(
                (f"{key}.{name}" if key else str(name), child)
                for name, child in reversed(item.items())
            )
        elif key:
            flat[key] = item
    return flat


def policy_keys(document: dict[str, Any]) -> dict[str, Any]:
    """Every dotted policy key of a snapshot with its value."""
    return flatten(
        {
            name: document.get(name, {})
            for name in POLICY_BLOCKS
            if name in document or name not in OPTIONAL_BLOCKS
        }
    )


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Key-level differences of the policy blocks and source digests."""

    def keyed(document: dict[str, Any]) -> dict[str, Any]:
        keys = policy_keys(document)
        keys.update(flatten(document.get("source_digests", {}), "source_digests"))
        return keys

    before, after = keyed(old), keyed(new)
    changes = []
    for key in sorted(set(before) | set(after)):
        if key not in before or key not in after or _differs(before[key], after[key]):
            changes.append({"key": key, "old": before.get(key), "new": after.get(key)})
    return changes


def _differs(old: Any, new: Any) -> bool:
    # Compare as JSON, not as Python: 1 == 1.0 == True in Python, not in a policy.
    from speckit_git_policy.canonical import canonical_bytes

    return bool(canonical_bytes(old) != canonical_bytes(new))
