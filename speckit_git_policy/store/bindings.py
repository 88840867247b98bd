"""Bindings: which commits carry a snapshot's content, and what they were rewritten from.

A binding is ``{"commit", "rewritten_from", "bound_at"}``: the commit (its SHA after
any amend or rebase), the SHAs it was rewritten from (oldest first) and when it was
bound (UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; ``""`` when unknown: filesystem logs
written before bind times were recorded). A snapshot's bindings are a list in bind
order; the capsule stores it as canonical JSON, and the filesystem as a log of
``bind``/``rewrite`` operations.

Every reader and writer goes through the four operations here, so both stores,
the capsule's merge and the queries agree on what a list of bindings means:

* :func:`bind` adds a commit unless it is bound already (also as a rewritten-from SHA);
* :func:`move` follows a rewrite old → new, folding into a binding ``new`` already has;
* :func:`merge` unites lists written independently (two clones, or both stores): a
  binding whose commit another one was rewritten from is folded into that one;
* :func:`fold` replays a filesystem log of operations.

All are pure: they never change the lists given, and do no I/O. Folding a binding
into another unites their ``rewritten_from`` and keeps the earliest known ``bound_at``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypedDict

from speckit_git_policy.errors import SnapshotCorrupt


class Binding(TypedDict):
    commit: str
    rewritten_from: list[str]
    bound_at: str


def new_binding(commit: str, bound_at: str = "") -> Binding:
    return {"commit": commit, "rewritten_from": [], "bound_at": bound_at}


# ---- reading untrusted data ------------------------------------------------------------
def check_bindings(value: object, where: str) -> list[Binding]:
    """A list of bindings from parsed JSON (the capsule is written by other clones too):
    SnapshotCorrupt naming ``where`` unless every item has the three fields, typed."""
    if not isinstance(value, list):
        raise SnapshotCorrupt(where, "bindings are not a JSON list")
    bindings: list[Binding] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise SnapshotCorrupt(where, f"binding {index} is not a JSON object")
        commit, history, bound_at = (
            item.get("commit"),
            item.get("rewritten_from"),
            item.get("bound_at"),
        )
        if not isinstance(commit, str) or not commit:
            raise SnapshotCorrupt(where, f"binding {index} has no commit")
        if not isinstance(history, list) or not all(isinstance(old, str) for old in history):
            raise SnapshotCorrupt(where, f"binding {index}: rewritten_from is not a list of SHAs")
        if not isinstance(bound_at, str):
            raise SnapshotCorrupt(where, f"binding {index}: bound_at is not text")
        bindings.append({"commit": commit, "rewritten_from": list(history), "bound_at": bound_at})
    return bindings


def load_bindings(data: bytes, where: str) -> list[Binding]:
    """Bindings from the bytes of a capsule bindings blob."""
    from speckit_git_policy.canonical import parse_json_bytes  # off the import path of the hooks

    try:
        value = parse_json_bytes(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise SnapshotCorrupt(where, f"bindings are not valid JSON ({e})") from e
    return check_bindings(value, where)


# ---- queries -----------------------------------------------------------------------------
def is_bound(bindings: Iterable[Binding], commit: str) -> bool:
    """Whether ``commit`` is bound, as itself or as a SHA some binding was rewritten from."""
    return any(commit == b["commit"] or commit in b["rewritten_from"] for b in bindings)


def known_commits(bindings: Iterable[Binding]) -> set[str]:
    """Every SHA the bindings name: the commits and what they were rewritten from."""
    return {sha for b in bindings for sha in (b["commit"], *b["rewritten_from"])}


def find(bindings: Iterable[Binding], commit: str) -> Binding | None:
    return next((b for b in bindings if b["commit"] == commit), None)


# ---- operations ---------------------------------------------------------------------------
def bind(bindings: list[Binding], commit: str, bound_at: str = "") -> list[Binding]:
    """``bindings`` with ``commit`` bound at the end; unchanged when it is bound already."""
    if is_bound(bindings, commit):
        return _copy(bindings)
    return [*_copy(bindings), new_binding(commit, bound_at)]


def move(bindings: list[Binding], old: str, new: str) -> list[Binding] | None:
    """The bindings after ``old`` was rewritten into ``new``; None when no binding is on ``old``.

    The binding keeps ``old`` in ``rewritten_from``. When ``new`` is bound already (a
    rebase's post-commit may have bound it), the two become one, at the earlier place
    (the list is in bind order). A rewrite that ends on the same SHA changes nothing.
    """
    index = _index(bindings, old)
    if index is None:
        return None
    if old == new:
        return _copy(bindings)
    moved = bindings[index]
    history = [*moved["rewritten_from"], old]
    bound_at = moved["bound_at"]
    place = index
    other = _index(bindings, new)
    if other is not None:
        history += bindings[other]["rewritten_from"]
        bound_at = _earliest(bound_at, bindings[other]["bound_at"])
        place = min(index, other)
    folded: Binding = {"commit": new, "rewritten_from": _unique(history), "bound_at": bound_at}
    result: list[Binding] = []
    for position, binding in enumerate(bindings):
        if position == place:
            result.append(folded)
        elif position not in (index, other):
            result.append(_copy_one(binding))
    return result


def merge(*sources: Iterable[Binding]) -> list[Binding]:
    """One list from lists written independently (two clones' capsules, or the two stores).

    Bindings of the same commit become one. A binding whose commit another binding was
    rewritten from (one side amended or rebased it, the other had not seen that yet) is
    folded into that one, and so on along chains of rewrites; the bindings that remain
    are those rewritten into nothing else. (Two commits each rewritten from the other,
    which takes rewriting back to an earlier SHA on one side, stay one binding: the
    smaller SHA.) The result is in ``bound_at`` order, then in order of first appearance.
    On the commits and their ``rewritten_from`` sets, the merge is commutative,
    associative and idempotent, so clones settle on the same bindings in any order.
    """
    first_seen: dict[str, int] = {}
    history: dict[str, list[str]] = {}
    bound: dict[str, str] = {}
    for bindings in sources:
        for binding in bindings:
            commit = binding["commit"]
            if commit not in first_seen:
                first_seen[commit] = len(first_seen)
                history[commit], bound[commit] = [], ""
            history[commit] = _unique([*history[commit], *binding["rewritten_from"]])
            bound[commit] = _earliest(bound[commit], binding["bound_at"])
    # commit -> the bound commits it was rewritten into
    rewritten_into: dict[str, list[str]] = {commit: [] for commit in first_seen}
    for commit, olds in history.items():
        for old in olds:
            if old in rewritten_into and old != commit:
                rewritten_into[old].append(commit)
    reach = {commit: _reachable(rewritten_into, commit) for commit in first_seen}
    merged: list[tuple[str, int, Binding]] = []
    for commit in first_seen:
        if any(commit not in reach[later] for later in reach[commit]):
            continue  # rewritten into a commit that was not rewritten back: folded there
        if commit != min({commit, *reach[commit]}):
            continue  # a cycle of rewrites: its smallest SHA stands for it
        absorbed = [c for c in first_seen if c == commit or commit in reach[c]]
        # Oldest first: a commit rewritten earlier reaches more commits.
        absorbed.sort(key=lambda c: (-len(reach[c]), first_seen[c]))
        folded: Binding = {
            "commit": commit,
            "rewritten_from": _unique([old for c in absorbed for old in history[c]]),
            "bound_at": _earliest(*(bound[c] for c in absorbed)),
        }
        merged.append((folded["bound_at"], min(first_seen[c] for c in absorbed), folded))
    merged.sort(key=lambda entry: (entry[0], entry[1]))
    return [binding for _at, _place, binding in merged]


def fold(ops: Iterable[Mapping[str, object]]) -> list[Binding]:
    """Replay a filesystem log of ``bind`` and ``rewrite`` operations (:func:`bind_op`,
    :func:`rewrite_op`), in order; malformed operations (a torn line) are skipped."""
    bindings: list[Binding] = []
    for op in ops:
        kind = op.get("op")
        if kind == "bind":
            commit, bound_at = op.get("commit"), op.get("bound_at", "")
            if isinstance(commit, str) and commit:
                bindings = bind(bindings, commit, bound_at if isinstance(bound_at, str) else "")
        elif kind == "rewrite":
            old, new = op.get("old"), op.get("new")
            if isinstance(old, str) and isinstance(new, str) and new:
                bindings = move(bindings, old, new) or bindings
    return bindings


def bind_op(commit: str, bound_at: str) -> dict[str, str]:
    """The filesystem log's record of a bind."""
    return {"op": "bind", "commit": commit, "bound_at": bound_at}


def rewrite_op(old: str, new: str) -> dict[str, str]:
    """The filesystem log's record of a rewrite (post-rewrite)."""
    return {"op": "rewrite", "old": old, "new": new}


# ---- helpers -------------------------------------------------------------------------------
def _index(bindings: list[Binding], commit: str) -> int | None:
    return next((i for i, b in enumerate(bindings) if b["commit"] == commit), None)


def _reachable(edges: dict[str, list[str]], start: str) -> set[str]:
    """Every commit ``start`` leads to along ``edges`` (``start`` too only through a cycle)."""
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        commit = todo.pop()
        if commit not in seen:
            seen.add(commit)
            todo.extend(edges[commit])
    return seen


def _earliest(*times: str) -> str:
    """The earliest known time; ``""`` (unknown) only when none is known."""
    known = [t for t in times if t]
    return min(known) if known else ""


def _unique(shas: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(shas))


def _copy_one(binding: Binding) -> Binding:
    return {
        "commit": binding["commit"],
        "rewritten_from": list(binding["rewritten_from"]),
        "bound_at": binding["bound_at"],
    }


def _copy(bindings: Iterable[Binding]) -> list[Binding]:
    return [_copy_one(b) for b in bindings]
