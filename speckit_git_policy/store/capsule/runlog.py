"""A run's event log as git trees: ``<chunk>/<seq:010d>.json``, one blob per event.

Events are grouped in chunks of ``layout.EVENTS_PER_CHUNK`` by seq, each chunk named by
its first seq, so that name order is seq order at both levels and an append
rewrites one chunk tree (at most 256 entries) and the run's tree of chunks (one
entry per 256 events): the same cost at 100 events and at 100,000. The run's
length is read from the last chunk alone (its first seq plus its size).

The earlier layout kept every event blob directly in the run's tree ("flat");
readers accept it, and the first append to such a run rewrites it into chunks.
"""

from __future__ import annotations

from speckit_git_policy.errors import GitError
from speckit_git_policy.store.capsule import layout
from speckit_git_policy.store.capsule.objects import BLOB_MODE, TREE_MODE, Entry, ObjectIO

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


def _is_seq_name(name: str) -> bool:
    return len(name) == layout.EVENT_NAME_DIGITS and name.isdigit() and name.isascii()


def _top(io: ObjectIO, run_tree: bytes) -> dict[str, Entry]:
    """The run tree's chunks (and, in the flat layout, events): a name outside the layout
    (another clone wrote it) is not read as part of the log."""
    return {
        name: entry
        for name, entry in io.entries(run_tree).items()
        if _is_seq_name(name if entry[0] == TREE_MODE else name.removesuffix(".json"))
        and (entry[0] == TREE_MODE or name.endswith(".json"))
    }


def _chunk(io: ObjectIO, chunk_tree: bytes) -> dict[str, Entry]:
    return {
        name: entry
        for name, entry in io.entries(chunk_tree).items()
        if name.endswith(".json") and _is_seq_name(name.removesuffix(".json"))
    }


def is_flat(io: ObjectIO, run_tree: bytes) -> bool:
    """True for a run written in the earlier layout (event blobs at the top)."""
    return any(mode != TREE_MODE for mode, _ in _top(io, run_tree).values())


def event_entries(io: ObjectIO, run_tree: bytes) -> list[Entry]:
    """Every event's (mode, blob id), in seq order, in either layout."""
    result: list[Entry] = []
    top = _top(io, run_tree)
    for name in sorted(top):
        mode, object_id = top[name]
        if mode == TREE_MODE:
            chunk = _chunk(io, object_id)
            result.extend(chunk[event] for event in sorted(chunk))
        else:
            result.append((mode, object_id))
    return result


def event_entries_backward(io: ObjectIO, run_tree: bytes) -> Iterator[Entry]:
    """Every event's (mode, blob id), last first, reading one chunk at a time."""
    top = _top(io, run_tree)
    for name in sorted(top, reverse=True):
        mode, object_id = top[name]
        if mode == TREE_MODE:
            chunk = _chunk(io, object_id)
            yield from (chunk[event] for event in sorted(chunk, reverse=True))
        else:
            yield mode, object_id


def length(io: ObjectIO, run_tree: bytes | None) -> int:
    """The number of events: the last chunk's first seq plus its size (every chunk
    before the last is full by construction), so two tree reads whatever the length."""
    if run_tree is None:
        return 0
    top = _top(io, run_tree)
    if not top:
        return 0
    last = max(top)
    mode, object_id = top[last]
    if mode != TREE_MODE:
        return len(top)  # flat layout
    try:
        first_seq = int(last)
    except ValueError as e:
        raise GitError(f"capsule run tree {run_tree.decode()}: {last!r} is not a chunk name") from e
    return first_seq + len(_chunk(io, object_id))


def end_entries(io: ObjectIO, run_tree: bytes) -> tuple[Entry, Entry] | None:
    """(first event, last event) reading only the first and last chunk trees."""
    top = _top(io, run_tree)
    if not top:
        return None
    names = sorted(top)
    first_mode, first_id = top[names[0]]
    last_mode, last_id = top[names[-1]]
    if first_mode != TREE_MODE or last_mode != TREE_MODE:
        flat = event_entries(io, run_tree)
        return (flat[0], flat[-1]) if flat else None
    first_chunk, last_chunk = _chunk(io, first_id), _chunk(io, last_id)
    if not first_chunk or not last_chunk:
        return None
    return first_chunk[min(first_chunk)], last_chunk[max(last_chunk)]


def write_run_tree(io: ObjectIO, blobs: list[bytes]) -> bytes:
    """The chunked tree of a whole log whose i-th event is ``blobs[i]`` (merge and
    rewriting a flat run; an append edits one chunk instead)."""
    top: dict[str, Entry] = {}
    size = layout.EVENTS_PER_CHUNK
    for start in range(0, len(blobs), size):
        chunk = {
            layout.event_name(seq): (BLOB_MODE, blobs[seq])
            for seq in range(start, min(start + size, len(blobs)))
        }
        top[layout.chunk_name(start)] = (TREE_MODE, io.write_tree(chunk))
    return io.write_tree(top)
