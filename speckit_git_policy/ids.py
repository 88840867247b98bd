"""Names that end up in file names, refs and URIs: policy ids, run ids, workspaces, commit ids.

They are validated at the edge so that no id can escape ``.speckit/`` or the
capsule's ref namespace (docs/DESIGN.md §6, §10).
"""

from __future__ import annotations

import os

from speckit_git_policy.errors import BadInput

# Sets of characters, not regular expressions: re (and enum behind it) is a tenth of a
# git hook's start-up, and every hook validates ids.
_HEX = frozenset("0123456789abcdef")
_NAME = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_PREFIX = _HEX | {"-"}

RUN_ID_MAX = 128
WORKSPACE_MAX = 64


def _check_name(kind: str, value: str, max_len: int) -> str:
    if not value:
        raise BadInput(f"{kind} is empty")
    if len(value) > max_len:
        raise BadInput(f"{kind} {value[:20]!r}… is longer than {max_len} characters")
    if not _NAME.issuperset(value):
        bad = next(ch for ch in value if ch not in _NAME)
        raise BadInput(
            f"{kind} {value!r} contains {bad!r}: use only letters, digits, '-', '_' and '.'"
        )
    if value.startswith("."):
        raise BadInput(f"{kind} {value!r} must not start with '.'")
    if ".." in value:
        raise BadInput(f"{kind} {value!r} must not contain '..'")
    if value.endswith((".lock", ".")):
        raise BadInput(f"{kind} {value!r} must not end with '.lock' or '.'")
    return value


def check_run_id(run_id: str) -> str:
    return _check_name("run id", run_id, RUN_ID_MAX)


def is_run_id(value: object) -> bool:
    """Whether ``check_run_id`` takes ``value``, without building its message (the run
    listing checks 100,000 names read from the capsule)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= RUN_ID_MAX
        and _NAME.issuperset(value)
        and not value.startswith(".")
        and ".." not in value
        and not value.endswith((".lock", "."))
    )


def check_workspace(workspace: str) -> str:
    return _check_name("workspace", workspace, WORKSPACE_MAX)


def new_policy_id() -> str:
    return new_uuid4()


def new_uuid4() -> str:
    """A random (version 4) UUID, as ``str(uuid.uuid4())`` makes it: importing uuid
    (and platform behind it) costs the post-commit hook more than the id is worth."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = raw.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def is_policy_id(value: str) -> bool:
    """The canonical text of a version-4 UUID, as ``str(uuid.uuid4())`` writes it:
    8-4-4-4-12 lowercase hex digits, version digit 4, variant digit 8, 9, a or b."""
    return (
        isinstance(value, str)
        and len(value) == 36
        and value[8] == value[13] == value[18] == value[23] == "-"
        and value.count("-") == 4
        and _PREFIX.issuperset(value)
        and value[14] == "4"
        and value[19] in "89ab"
    )


def check_policy_id_prefix(value: str) -> str:
    """A full policy id or a prefix of one: lowercase hex and dashes only."""
    if not isinstance(value, str) or not 1 <= len(value) <= 36 or not _PREFIX.issuperset(value):
        raise BadInput(f"{value!r} is not a policy id or id prefix (lowercase hex and '-')")
    return value


def is_object_id(value: str) -> bool:
    """A full git object id: 40 hex digits (SHA-1) or 64 (SHA-256 repositories)."""
    return isinstance(value, str) and len(value) in (40, 64) and _HEX.issuperset(value)


def check_commit_id(value: str) -> str:
    if not is_object_id(value):
        raise BadInput(
            f"{value!r} is not a full commit SHA (40 lowercase hex digits, 64 in a SHA-256 repository)"
        )
    return value


def check_content_hash(value: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not _HEX.issuperset(value):
        raise BadInput(f"{value!r} is not a sha256 hex digest")
    return value
