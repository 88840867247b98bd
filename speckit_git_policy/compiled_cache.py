"""The policy pre-commit has just compiled, kept for the post-commit capture of the same bytes.

pre-commit parses and checks the staged sources anyway; post-commit would parse
the same bytes again from the new commit's tree. So pre-commit leaves the compile
(the content, its hash and the RFC 8785 bytes of each of its members) under
``<git common dir>/speckit/compiled/<key>.entry``, where the key is a SHA-256 over
the tool version, the Python version, the code that compiles, the source paths and
the staged blob ids, and post-commit, which sees the commit's blob ids in the one
``ls-tree`` it runs anyway, takes it from there and assembles the snapshot from those
bytes, without reading a blob, importing the TOML parser, json or the canonical-JSON
encoder.

A cache entry can never change a snapshot: it is used only when the blob ids,
paths, tool and Python versions and code recorded *inside* it are the ones asked for
and the whole entry still has the checksum written with it; what it holds is then
exactly what this code computed from those blobs in pre-commit. Anything else (a torn
or edited file, another tool version, a commit made with --no-verify, a rebase)
compiles as without the cache. Only validated content is kept (pre-commit refuses
the rest). The entry is ``marshal`` data (built in: exact for every JSON value,
floats included), after a header line with its SHA-256.
"""

from __future__ import annotations

import marshal
import os
import sys

from speckit_git_policy import __version__
from speckit_git_policy.fileio import atomic_write, code_fingerprint
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.hashing import sha256_hex
from speckit_git_policy.policy.sources import SourcePaths, Sources
from speckit_git_policy.snapshot import Compiled

# typing is for type checkers only: the pre-commit hook's hot path must not pay for it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENTRY_FORMAT = 3
_MAGIC = b"speckit-compiled %d " % ENTRY_FORMAT
_SUFFIX = ".entry"
# Modules whose code decides what a compile gives for given bytes: an edit of any
# of them (an editable install, a hot fix) must not be served a compile of the old code.
COMPILING_MODULES = (
    "policy/checker.py",
    "policy/rules.py",
    "policy/toml.py",
    "policy/tomlfast.py",
    "policy/model_policy.schema.json",
    "compiled_cache.py",
    "policy/lint.py",
    "snapshot.py",
    "canonical.py",
    "cjson.py",
)


def cache_dir(repo: GitRepo) -> str:
    return os.path.join(repo.common_dir, "speckit", "compiled")


def _code_fingerprint() -> list[str]:
    return code_fingerprint(COMPILING_MODULES)


def _identity(paths: SourcePaths, blob_ids: dict[str, str]) -> dict[str, object]:
    """What an entry must have been made from to be used (recorded inside it too)."""
    return {
        "format": ENTRY_FORMAT,
        "tool_version": __version__,
        "python": sys.version,
        "code": _code_fingerprint(),
        "policy_file": paths.policy,
        "doc_file": paths.doc,
        "blob_ids": dict(sorted(blob_ids.items())),
    }


def entry_path(repo: GitRepo, identity: dict[str, object], prefix: str = "") -> str:
    return os.path.join(cache_dir(repo), prefix + sha256_hex(marshal.dumps(identity)) + _SUFFIX)


def encode_entry(entry: dict[str, Any]) -> bytes:
    """An entry's bytes: the header line with the payload's SHA-256, then the payload."""
    payload = marshal.dumps(entry)
    return _MAGIC + sha256_hex(payload).encode() + b"\n" + payload


def decode_entry(data: bytes, *, check: bool = True) -> dict[str, Any] | None:
    """The entry ``encode_entry`` wrote, None when the header or (``check``) the checksum
    does not hold: the checksum is verified before marshal reads a byte."""
    header, newline, payload = data.partition(b"\n")
    if not newline or not header.startswith(_MAGIC):
        return None
    if check and sha256_hex(payload).encode() != header[len(_MAGIC) :]:
        return None
    entry = marshal.loads(payload)
    return entry if isinstance(entry, dict) else None


def remember(repo: GitRepo, sources: Sources, compiled: Compiled) -> bool:
    """Keep the validated compile of sources read from git; False when it cannot be kept."""
    if sources.blob_ids is None or compiled.parts is None or not compiled.validated:
        return False
    try:
        identity = _identity(sources.paths, sources.blob_ids)
        data = encode_entry(
            {
                **identity,
                "hash": compiled.hash,
                "content": compiled.content,
                "parts": compiled.parts,
            }
        )
        # Not durable (no fsync, unlike the snapshot store): an entry a crash leaves
        # torn fails verification and is compiled again, and the hook's time is better spent.
        atomic_write(entry_path(repo, identity), data, durable=False)
        _drop_stale(cache_dir(repo))
    except Exception:  # noqa: BLE001 -- only a cache: the capture compiles instead
        return False
    return True


STALE_SECONDS = 24 * 3600


def _drop_stale(directory: str) -> None:
    """Entries of commits that never happened (aborted, or a refused commit-msg) are
    used by no post-commit: remove those older than a day, so the folder stays small."""
    import time

    cutoff = time.time() - STALE_SECONDS
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                # .json: entries of an earlier format, which no post-commit reads any more
                stale = entry.name.endswith((_SUFFIX, ".json"))
                if stale and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                continue  # another hook removed it first


def recall(repo: GitRepo, paths: SourcePaths, blob_ids: dict[str, str] | None) -> Compiled | None:
    """The compile of exactly these source blobs, when pre-commit kept one that verifies.

    The entry is removed once read: it has served the capture it was made for, and
    the directory stays as small as the commits that were aborted after pre-commit.
    """
    if blob_ids is None:
        return None
    try:
        identity = _identity(paths, blob_ids)
        path = entry_path(repo, identity)
        with open(path, "rb") as handle:
            data = handle.read()
    except Exception:  # noqa: BLE001 -- only a cache: the capture compiles instead
        return None
    try:
        os.unlink(path)
    except OSError:
        pass
    try:
        return _verified(data, identity, paths)
    except Exception:  # noqa: BLE001 -- e.g. content canonical JSON refuses: compile and say why
        return None


def _verified(data: bytes, identity: dict[str, object], paths: SourcePaths) -> Compiled | None:
    entry = decode_entry(data)
    if entry is None or any(entry.get(key) != value for key, value in identity.items()):
        return None
    content, parts, digest = entry.get("content"), entry.get("parts"), entry.get("hash")
    if not isinstance(content, dict) or not isinstance(parts, dict) or set(parts) != set(content):
        return None
    if not all(isinstance(value, bytes) for value in parts.values()):
        return None
    if not isinstance(digest, str) or len(digest) != 64:
        return None
    if (
        content.get("source_files") != paths.all()
        or sorted(content.get("source_digests") or {}) != paths.all()
    ):
        return None
    return Compiled(content=content, hash=digest, validated=True, issues=(), parts=parts)


# ---- the content hash of committed sources, for `current` ---------------------------------
# `current` shows the hash of HEAD's sources, which takes compiling them (the TOML parser,
# the checks, canonical JSON: about half a Python start-up) on every call. The hash is a
# function of the blobs and of the code, so it is kept under the same identity as a
# compile, plus the code that hashes: one small file per content `current` has seen,
# swept with the compiles (a day after it was written). Made only from regular files.
HASHING_MODULES = ("canonical.py", "hashing.py")


def _hash_identity(paths: SourcePaths, blob_ids: dict[str, str]) -> dict[str, object]:
    from importlib.util import find_spec

    spec = find_spec("rfc8785")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("rfc8785")
    files = [*HASHING_MODULES, spec.origin, os.path.join(os.path.dirname(spec.origin), "_impl.py")]
    import sys

    return {
        **_identity(paths, blob_ids),
        "kind": "content_hash",
        "python": sys.version,  # tomllib's parse
        "hashed_by": code_fingerprint(files),
    }


def recall_hash(repo: GitRepo, paths: SourcePaths, blob_ids: dict[str, str] | None) -> str | None:
    """The content hash the sources of exactly these blobs compile to, when kept."""
    if blob_ids is None:
        return None
    try:
        identity = _hash_identity(paths, blob_ids)
        with open(entry_path(repo, identity, "hash-"), "rb") as handle:
            entry = decode_entry(handle.read())
    except Exception:  # noqa: BLE001 -- only a cache: the caller compiles instead
        return None
    if not isinstance(entry, dict) or any(entry.get(k) != v for k, v in identity.items()):
        return None
    found = entry.get("hash")
    if not isinstance(found, str) or len(found) != 64 or not found.isalnum():
        return None
    return found


def remember_hash(
    repo: GitRepo, paths: SourcePaths, blob_ids: dict[str, str] | None, content_hash: str
) -> None:
    """Keep the content hash these blobs compiled to (nothing when it cannot be kept)."""
    if blob_ids is None:
        return
    try:
        identity = _hash_identity(paths, blob_ids)
        data = encode_entry({**identity, "hash": content_hash})
        atomic_write(entry_path(repo, identity, "hash-"), data, durable=False)
    except Exception:  # noqa: BLE001 -- only a cache
        return
