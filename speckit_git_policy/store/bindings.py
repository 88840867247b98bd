"""Bindings: which commits carry a snapshot's content, and what they were rewritten from.

A binding is ``{"commit", "rewritten_from", "bound_at"}``: the commit (its SHA after
any amend or rebase), the SHAs it was rewritten from (oldest first) and when it was
bound (UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; ``""`` when unknown: filesystem logs
written before bind times were recorded). A snapshot's bindings are a list in bind
order; the capsule stores it as canonical JSON, and the filesystem as a log of
``bind``/``rewrite`` operations.

Every reader and writer goes through the operations here, so both stores,
the capsule's merge and the queries agree on what a list of bindings means:

* :func:`bind` adds a commit unless it is bound already (also as a rewritten-from SHA);
* :func:`move` follows a rewrite old → new, folding into a binding ``new`` already has
  (several originals folded into one commit, a squash, are several moves);
* :func:`record_history` adds to a binding the originals it was folded from whose
  content differed (they stay bound to their own snapshots);
* :func:`compose` chains the rewrites of one operation (a rebase and the amends made
  inside it) into ``old → new`` pairs that keep the first original;
* :func:`follow_across` applies a rewrite one snapshot records to the other snapshots of
  the same content that still bind the old SHA (two clones captured it independently);
* :func:`merge` unites lists written independently (two clones, or both stores): a
  binding whose commit another one was rewritten from is folded into that one;
* :func:`fold` replays a filesystem log of operations.

The binding rules these serve are in docs/DESIGN.md §5.

All are pure: they never change the lists given, and do no I/O. Folding a binding
into another unites their ``rewritten_from`` and keeps the earliest known ``bound_at``.
"""

from __future__ import annotations

from speckit_git_policy.errors import SnapshotCorrupt

# typing for type checkers only: the git hooks import this module (a binding is a
# plain dict at run time).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import TypedDict

    class Binding(TypedDict):
        commit: str
        rewritten_from: list[str]
        bound_at: str

else:
    Binding = dict


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


def move(
    bindings: list[Binding], old: str, new: str, via: Iterable[str] = ()
) -> list[Binding] | None:
    """The bindings after ``old`` was rewritten into ``new``; None when no binding is on ``old``.

    The binding keeps ``old`` in ``rewritten_from``, then ``via``: the commits a chain
    of rewrites went through (``compose``). When ``new`` is bound already (a commit
    made before the rewrite was known), the two become one, at the earlier place (the
    list is in bind order). A rewrite that ends on the same SHA changes nothing.
    """
    index = _index(bindings, old)
    if index is None:
        return None
    if old == new:
        return _copy(bindings)
    moved = bindings[index]
    history = [*moved["rewritten_from"], old, *(sha for sha in via if sha != new)]
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


def record_history(
    bindings: list[Binding], commit: str, shas: Iterable[str]
) -> list[Binding] | None:
    """The bindings with ``shas`` added to the ``rewritten_from`` of ``commit``'s binding
    (a squash or fixup folded them into it); None when ``commit`` is not bound here or
    nothing is new. ``shas`` may list the whole fold in order, those already recorded
    too: a new one goes before the first later one already there, so that the list stays
    oldest first. The commit itself is never recorded as its own original."""
    index = _index(bindings, commit)
    if index is None:
        return None
    order = [sha for sha in _unique(shas) if sha != commit]
    history = list(bindings[index]["rewritten_from"])
    added = False
    for position, sha in enumerate(order):
        if sha in history:
            continue
        later = next((s for s in order[position + 1 :] if s in history), None)
        history.insert(history.index(later) if later is not None else len(history), sha)
        added = True
    if not added:
        return None
    result = _copy(bindings)
    result[index]["rewritten_from"] = history
    return result


def compose(
    final: Iterable[tuple[str, str]], earlier: Iterable[tuple[str, str]]
) -> list[tuple[str, list[str], str]]:
    """Chain rewrites: each ``old → new`` of ``final`` (what git reports when a rebase
    ends) followed through ``earlier`` (rewrites made meanwhile, in order: an amend run
    by ``rebase -x``), as ``(old, via, last)``, for ``move(bindings, old, last, via)``:
    the first original is kept and every SHA on the way is named."""
    after: dict[str, str] = {}
    for old, new in earlier:
        if old != new:
            after[old] = new
    chains: list[tuple[str, list[str], str]] = []
    for old, new in final:
        via: list[str] = []
        seen = {old}
        while new in after and new not in seen:
            via.append(new)
            seen.add(new)
            new = after[new]
        chains.append((old, [sha for sha in via if sha not in (old, new)], new))
    return chains


def follow_across(
    lists: Mapping[str, list[Binding]], same_content: Callable[[str, str], bool]
) -> dict[str, list[Binding]]:
    """Rewrites applied per commit, across snapshots: when one snapshot records that
    ``old`` was rewritten into ``new`` and another snapshot of the same content (as
    ``same_content(one, other)`` says) still binds ``old``, that binding moves to ``new``
    too. Returns only the lists that changed."""
    rewritten: dict[str, list[tuple[str, str]]] = {}  # old -> [(policy_id, new)]
    for policy_id, bindings in lists.items():
        for binding in bindings:
            for old in binding["rewritten_from"]:
                if old != binding["commit"]:
                    rewritten.setdefault(old, []).append((policy_id, binding["commit"]))
    changed: dict[str, list[Binding]] = {}
    for policy_id, bindings in lists.items():
        current = bindings
        for binding in bindings:
            old = binding["commit"]
            for other, new in rewritten.get(old, ()):
                if other == policy_id or not same_content(other, policy_id):
                    continue
                moved = move(current, old, new)
                if moved is not None:
                    current = moved
                    break
        if current is not bindings:
            changed[policy_id] = current
    return changed


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
    """Replay a filesystem log of ``bind``, ``rewrite`` and ``history`` operations
    (:func:`bind_op`, :func:`rewrite_op`, :func:`history_op`), in order; malformed
    operations (a torn line) are skipped."""
    bindings: list[Binding] = []
    for op in ops:
        kind = op.get("op")
        if kind == "bind":
            commit, bound_at = op.get("commit"), op.get("bound_at", "")
            if isinstance(commit, str) and commit:
                bindings = bind(bindings, commit, bound_at if isinstance(bound_at, str) else "")
        elif kind == "rewrite":
            old, new, via = op.get("old"), op.get("new"), op.get("via", [])
            if isinstance(old, str) and isinstance(new, str) and new:
                chain = (
                    [sha for sha in via if isinstance(sha, str)] if isinstance(via, list) else []
                )
                bindings = move(bindings, old, new, chain) or bindings
        elif kind == "history":
            commit, shas = op.get("commit"), op.get("rewritten_from")
            if isinstance(commit, str) and isinstance(shas, list):
                olds = [sha for sha in shas if isinstance(sha, str) and sha]
                bindings = record_history(bindings, commit, olds) or bindings
    return bindings


def bind_op(commit: str, bound_at: str) -> dict[str, str]:
    """The filesystem log's record of a bind."""
    return {"op": "bind", "commit": commit, "bound_at": bound_at}


def rewrite_op(old: str, new: str, via: Iterable[str] = ()) -> dict[str, object]:
    """The filesystem log's record of a rewrite (post-rewrite); ``via`` as in :func:`move`."""
    op: dict[str, object] = {"op": "rewrite", "old": old, "new": new}
    chain = list(via)
    if chain:
        op["via"] = chain
    return op


def history_op(commit: str, shas: list[str]) -> dict[str, object]:
    """The filesystem log's record of :func:`record_history` (a squash of originals
    bound to other snapshots). Versions that do not know it skip it."""
    return {"op": "history", "commit": commit, "rewritten_from": list(shas)}


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
