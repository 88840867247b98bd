"""One parser per git plumbing output, and the thin call that runs git for it.

Each ``parse_*`` function is a function of the bytes git printed (so it can be
tested on generated outputs, and against the real binary); the function beside it
runs the one git process through ``GitRepo.git``. The other layers call these and
never split git's output themselves.

Formats are chosen so that every record can be told apart whatever the names and
texts in it: ``-z`` where git offers it (NUL ends every path, log field and
commit), the raw diff format rather than ``--name-only`` (a raw record starts
with ``:``, a commit id never does).

The git hooks import this module: nothing here is imported at run time beyond
what they load anyway (no typing, dataclasses or re).
"""

from __future__ import annotations

# typing is for type checkers only: the git hook's hot path must not pay for it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TypedDict

    from speckit_git_policy.git.repo import GitRepo

    # path -> (mode, object id, size or None when git did not say).
    Entry = tuple[str, str, int | None]
    # (status, old mode, new mode, old object id, new object id, paths) of one change.
    DiffRecord = tuple[str, str, str, str, str, tuple[str, ...]]

    class CommitInfo(TypedDict):
        commit: str
        author: str  # "Name <email>"
        date: str  # author date, ISO 8601 strict
        time: int  # committer time, seconds since the epoch
        subject: str


_HEX = frozenset("0123456789abcdef")
_OBJECT_TYPES = ("blob", "tree", "commit", "tag")


def is_object_id(text: str) -> bool:
    """A full object id in git's hex (SHA-1 or SHA-256)."""
    return len(text) in (40, 64) and _HEX.issuperset(text)


def _request(names: Iterable[str]) -> bytes:
    return "".join(f"{name}\n" for name in names).encode("utf-8", "surrogateescape")


def _path(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# ---- config -z --get-regexp / config --get-regexp ------------------------------------
def parse_config_z(out: bytes) -> dict[str, bytes | None]:
    """``git config -z --get-regexp``: key (lower-case) → value, None for a bare key
    (no ``=``); the last value of a key wins, as with ``git config --get``."""
    found: dict[str, bytes | None] = {}
    for record in out.split(b"\0"):
        if record:
            key, newline, value = record.partition(b"\n")
            found[key.decode("utf-8", "replace").lower()] = value if newline else None
    return found


def parse_config_lines(text: str) -> dict[str, str | None]:
    """``git config --get-regexp`` without ``-z`` ("key value" lines; the sh hook
    passes them on): key (lower-case) → value, None for a bare key."""
    found: dict[str, str | None] = {}
    for line in text.splitlines():
        key, space, value = line.partition(" ")
        if key:
            found[key.lower()] = value if space else None
    return found


def parse_config_origins(out: bytes) -> list[tuple[str, str, str, bytes | None]]:
    """``git config -z --show-scope --show-origin --get-regexp``: (scope, origin, key
    (lower-case), value or None for a bare key) per value, in git's order (the last value
    of a key is the one in force). The scope is git's: system, global, local, worktree,
    command."""
    records = out.split(b"\0")
    found = []
    for start in range(0, len(records) - 2, 3):
        scope, origin, entry = records[start : start + 3]
        key, newline, value = entry.partition(b"\n")
        found.append(
            (
                scope.decode("utf-8", "replace"),
                origin.decode("utf-8", "replace"),
                key.decode("utf-8", "replace").lower(),
                value if newline else None,
            )
        )
    return found


# ---- ls-tree -l -z / ls-files -s -z --------------------------------------------------
def parse_ls_tree(out: bytes) -> list[tuple[str, str, str, int | None, str]]:
    """``git ls-tree -l -z``: (mode, type, object id, size or None, path) per entry
    (a tree or a submodule has no size)."""
    entries = []
    for record in out.split(b"\0"):
        meta, tab, raw_path = record.partition(b"\t")
        if not tab:
            continue
        mode, kind, oid, size = meta.decode().split()  # the size is padded with spaces
        entries.append((mode, kind, oid, int(size) if size.isdigit() else None, _path(raw_path)))
    return entries


def parse_ls_files_stage(out: bytes) -> list[tuple[str, str, int, str]]:
    """``git ls-files -s -z``: (mode, object id, stage, path) per index entry."""
    entries = []
    for record in out.split(b"\0"):
        meta, tab, raw_path = record.partition(b"\t")
        if not tab:
            continue
        mode, oid, stage = meta.decode().split()
        entries.append((mode, oid, int(stage), _path(raw_path)))
    return entries


def tree_entries(repo: GitRepo, treeish: str, paths: list[str]) -> dict[str, Entry]:
    """path → (mode, object id, size) for each of ``paths`` (literal paths, as every
    pathspec here) present in a commit's tree, in one call."""
    out = repo.git("--literal-pathspecs", "ls-tree", "-l", "-z", treeish, "--", *paths)
    wanted = set(paths)
    entries: dict[str, Entry] = {}
    for mode, _kind, oid, size, path in parse_ls_tree(out):
        if path in wanted:  # a path under a directory named as a source is not that source
            entries.setdefault(path, (mode, oid, size))
    return entries


def index_entries(repo: GitRepo, paths: list[str]) -> dict[str, Entry]:
    """path → (mode, object id, None) for each of ``paths`` in the index (of a
    conflicted path, its first stage), in one call."""
    out = repo.git("--literal-pathspecs", "ls-files", "-s", "-z", "--", *paths)
    wanted = set(paths)
    entries: dict[str, Entry] = {}
    for mode, oid, _stage, path in parse_ls_files_stage(out):
        if path in wanted:
            entries.setdefault(path, (mode, oid, None))
    return entries


def parse_ls_files_tags(out: bytes) -> dict[str, str]:
    """``git ls-files -t -z``: path → its status tag (``H`` cached, ``S`` skip-worktree...)."""
    tags: dict[str, str] = {}
    for record in out.split(b"\0"):
        tag, space, raw_path = record.partition(b" ")
        if space and tag:
            tags.setdefault(_path(raw_path), tag.decode("ascii", "replace"))
    return tags


def skip_worktree_paths(repo: GitRepo, paths: list[str]) -> list[str]:
    """Those of ``paths`` (literal paths) that a sparse checkout leaves out of the work
    tree on purpose (the index's skip-worktree bit), in one call."""
    if not paths:
        return []
    out = repo.git("--literal-pathspecs", "ls-files", "-t", "-z", "--", *paths)
    tags = parse_ls_files_tags(out)
    return [path for path in paths if tags.get(path) == "S"]


# ---- cat-file --batch / --batch-check ------------------------------------------------
class ObjectInfo:
    """One object ``cat-file`` found: its id, type, size and (``--batch``) contents."""

    __slots__ = ("oid", "kind", "size", "data")

    def __init__(self, oid: str, kind: str, size: int, data: bytes | None = None) -> None:
        self.oid = oid
        self.kind = kind
        self.size = size
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectInfo) and (self.oid, self.kind, self.size, self.data) == (
            other.oid,
            other.kind,
            other.size,
            other.data,
        )

    def __hash__(self) -> int:
        return hash((self.oid, self.kind, self.size, self.data))

    def __repr__(self) -> str:
        return f"ObjectInfo({self.oid!r}, {self.kind!r}, {self.size!r}, {self.data!r})"


def parse_batch(out: bytes, with_contents: bool) -> list[ObjectInfo | None]:
    """``git cat-file --batch`` (``with_contents``) or ``--batch-check``, default format:
    one item per request line, in order; None for a name git could not resolve
    ("<name> missing", "<name> ambiguous")."""
    found: list[ObjectInfo | None] = []
    position = 0
    while position < len(out):
        end = out.index(b"\n", position)
        header = out[position:end].decode("utf-8", "surrogateescape")
        position = end + 1
        fields = header.rsplit(" ", 2)
        if len(fields) != 3 or fields[1] not in _OBJECT_TYPES or not fields[2].isdigit():
            found.append(None)  # the request echoed back, then why it failed
            continue
        size = int(fields[2])
        data = None
        if with_contents:
            data = out[position : position + size]
            position += size + 1  # the contents and their closing newline
        found.append(ObjectInfo(fields[0], fields[1], size, data))
    return found


def object_infos(repo: GitRepo, names: list[str]) -> list[ObjectInfo | None]:
    """Id, type and size of each object named (an id, ``<commit>:<path>``...), in one call."""
    if not names:
        return []
    return parse_batch(repo.git("cat-file", "--batch-check", input_bytes=_request(names)), False)


def read_objects(repo: GitRepo, names: list[str]) -> list[ObjectInfo | None]:
    """Each object named, with its contents, in one call."""
    if not names:
        return []
    return parse_batch(repo.git("cat-file", "--batch", input_bytes=_request(names)), True)


def existing_commits(repo: GitRepo, shas: list[str]) -> list[str]:
    """The SHAs that name a commit present here (a binding may come from another clone)."""
    return [
        info.oid for info in object_infos(repo, shas) if info is not None and info.kind == "commit"
    ]


# ---- diff-tree / diff --raw -z -------------------------------------------------------
def parse_raw_diff_records(out: bytes) -> dict[str, list[DiffRecord]]:
    """The raw diff format with ``-z`` (``diff-tree``, ``diff --raw``): commit id → one
    record per change, in git's order: (status letter, old mode, new mode, old object id,
    new object id, paths); a rename or a copy has two paths, every other change one.
    "" holds the changes printed without a commit id (``--no-commit-id``, ``git diff``). A
    commit compared with several parents (``-m``) lists the changes of every diff."""
    changed: dict[str, list[DiffRecord]] = {}
    current = ""
    tokens = out.split(b"\0")
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if not token:
            continue
        if token.startswith(b":"):
            # ":<old mode> <new mode> <old id> <new id> <status>", then the path (two
            # paths for a rename or a copy).
            fields = token[1:].decode("ascii", "replace").split(" ")
            status = fields[-1]
            count = 2 if status[:1] in ("R", "C") else 1
            paths = tuple(_path(raw) for raw in tokens[position : position + count])
            position += count
            if len(fields) == 5:
                old_mode, new_mode, old_id, new_id = fields[:4]
            else:
                old_mode = new_mode = old_id = new_id = ""
            changed.setdefault(current, []).append(
                (status[:1], old_mode, new_mode, old_id, new_id, paths)
            )
        else:
            current = token.decode().strip()
            changed.setdefault(current, [])
    return {commit: records for commit, records in changed.items() if records or commit}


def parse_raw_diff(out: bytes) -> dict[str, list[str]]:
    """The raw diff format with ``-z``, as :func:`parse_raw_diff_records`: commit id →
    the paths it changed, in git's order."""
    return {
        commit: [path for record in records for path in record[5]]
        for commit, records in parse_raw_diff_records(out).items()
    }


def changed_paths(repo: GitRepo, commit: str) -> list[str]:
    """Paths the commit changed against its first parent (all files for a root commit)."""
    out = repo.git(
        "diff-tree", "--no-commit-id", "-r", "-z", "--root", "-m", "--first-parent", commit
    )
    return parse_raw_diff(out).get("", [])


def commits_touching(repo: GitRepo, commits: list[str], pathspecs: list[str]) -> set[str]:
    """Those of ``commits`` whose first-parent diff (all files for a root commit) touches
    one of ``pathspecs`` (literal paths), in one ``diff-tree --stdin`` call."""
    return set(first_parent_changes(repo, commits, pathspecs))


def first_parent_changes(
    repo: GitRepo, commits: list[str], pathspecs: list[str]
) -> dict[str, list[DiffRecord]]:
    """For each of ``commits`` whose first-parent diff (all files for a root commit)
    touches one of ``pathspecs`` (literal paths): its changes there, with modes and
    object ids, in one ``diff-tree --stdin`` call."""
    if not commits:
        return {}
    out = repo.git(
        "--literal-pathspecs",
        "diff-tree",
        "--stdin",
        "-r",
        "-z",
        "--root",
        "-m",
        "--first-parent",
        "--no-renames",
        "--",
        *pathspecs,
        input_bytes=_request(commits),
    )
    wanted = set(commits)
    return {
        commit: records
        for commit, records in parse_raw_diff_records(out).items()
        if records and commit in wanted
    }


def staged_paths(repo: GitRepo, pathspecs: list[str]) -> list[str]:
    """Those of ``pathspecs`` (literal paths) whose staged content differs from HEAD
    (on an unborn branch ``--cached`` compares against the empty tree by itself)."""
    out = repo.git(
        "--literal-pathspecs", "diff", "--cached", "--raw", "-z", "--no-ext-diff", "--", *pathspecs
    )
    return parse_raw_diff(out).get("", [])


# ---- log / show formats --------------------------------------------------------------
# With -z every field and every commit ends in a NUL, which no field can hold.
COMMIT_FORMAT = "--format=%H%x00%an <%ae>%x00%aI%x00%ct%x00%s"
_COMMIT_FIELDS = 5


def parse_commit_log(out: bytes) -> list[CommitInfo]:
    """``git log -z`` / ``git show -s -z`` output in ``COMMIT_FORMAT``, one item per commit."""
    fields = [
        raw.decode("utf-8", "replace") for raw in out.split(b"\0")[:-1]
    ]  # the last NUL ends the output
    infos: list[CommitInfo] = []
    for start in range(0, len(fields) - _COMMIT_FIELDS + 1, _COMMIT_FIELDS):
        sha, author, date, timestamp, subject = fields[start : start + _COMMIT_FIELDS]
        infos.append(
            {
                "commit": sha,
                "author": author,
                "date": date,
                "time": int(timestamp) if timestamp.isdigit() else 0,  # a commit without one
                "subject": subject,
            }
        )
    return infos


def commit_info(repo: GitRepo, commit: str) -> CommitInfo:
    """Author, author date, commit time and subject of one commit (GitError when absent)."""
    out = repo.git("show", "-s", "-z", "--no-show-signature", COMMIT_FORMAT, commit)
    return parse_commit_log(out)[0]


def commit_infos(
    repo: GitRepo, shas: list[str], *, all_present: bool = False
) -> dict[str, CommitInfo]:
    """Author, author date, commit time and subject of many commits in two git calls,
    whatever their number; SHAs this clone lacks are left out (``all_present``: the
    caller knows it lacks none, a walk listed them: one git call)."""
    present = shas if all_present else existing_commits(repo, shas)
    if not present:
        return {}
    out = repo.git(
        "log",
        "-z",
        "--no-walk=unsorted",
        "--no-show-signature",
        "--stdin",
        COMMIT_FORMAT,
        input_bytes=_request(present),
    )
    return {info["commit"]: info for info in parse_commit_log(out)}


def walk_infos(repo: GitRepo, start: str, pathspecs: list[str]) -> list[CommitInfo]:
    """``rev_list(repo, "--full-history", start, pathspecs=pathspecs)`` with each commit's
    ``commit_infos`` entry, in one git call: the walk ``log`` makes of the whole history.
    ``log.follow`` is off (with a single path it would follow renames: another walk), and so
    are signatures (``log.showSignature`` would print gpg's words among the fields) and
    decorations (``log.decorate`` would have git load every ref)."""
    out = repo.git(
        "-c",
        "log.follow=false",
        "--literal-pathspecs",
        "log",
        "-z",
        "--full-history",
        "--no-show-signature",
        "--no-decorate",
        COMMIT_FORMAT,
        start,
        "--",
        *pathspecs,
    )
    return parse_commit_log(out)


# ---- rev-list (and log --format=%H) --------------------------------------------------
def parse_object_ids(out: bytes) -> list[str]:
    """``git rev-list`` (or ``log --format=%H``): one object id per line, in git's order."""
    return out.decode().split()


def rev_list(
    repo: GitRepo, *args: str, pathspecs: list[str] | None = None, check: bool = True
) -> list[str]:
    """``git rev-list <args> [-- <literal paths>]``: commit ids, newest first by default."""
    literal = ("--literal-pathspecs",) if pathspecs else ()
    out = repo.git(*literal, "rev-list", *args, "--", *(pathspecs or ()), check=check)
    return parse_object_ids(out)


def parse_rev_list_graph(out: bytes) -> list[tuple[int, str, tuple[str, ...]]]:
    """``git rev-list --timestamp --parents``: (commit time, commit, parents) per commit,
    in git's order."""
    graph = []
    for line in out.decode().splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit():
            graph.append((int(fields[0]), fields[1], tuple(fields[2:])))
    return graph


def commit_graph(repo: GitRepo, *args: str) -> list[tuple[int, str, tuple[str, ...]]]:
    """``git rev-list --timestamp --parents <args>``: every commit the walk reaches, with
    its commit time and parents, in one call (``--topo-order`` puts children first)."""
    return parse_rev_list_graph(repo.git("rev-list", "--timestamp", "--parents", *args, "--"))


# ---- blame --porcelain ---------------------------------------------------------------
def parse_blame_porcelain(out: bytes) -> dict[int, tuple[str, int]]:
    """``git blame --porcelain``: final line number → (commit, author time).

    Each blamed line is a header "<sha> <orig line> <final line> [<count>]", then
    header fields (``author-time`` only the first time a commit appears), then the
    line itself after a tab: so the line after a tabbed line is always a header,
    whatever the file's text looks like.
    """
    line_commits: dict[int, str] = {}
    times: dict[str, int] = {}
    current = ""
    expect_header = True
    for raw in out.split(b"\n"):
        if expect_header:
            fields = raw.decode("utf-8", "replace").split(" ")
            if len(fields) in (3, 4) and is_object_id(fields[0]) and fields[2].isdigit():
                current = fields[0]
                line_commits[int(fields[2])] = current
                expect_header = False
        elif raw.startswith(b"\t"):
            expect_header = True
        elif raw.startswith(b"author-time "):
            value = raw[len(b"author-time ") :].decode("utf-8", "replace")
            if value.isdigit():
                times[current] = int(value)
    return {number: (sha, times.get(sha, 0)) for number, sha in line_commits.items()}


def blame_lines(
    repo: GitRepo, commit: str, path: str, lines: list[int]
) -> dict[int, tuple[str, int]]:
    """Line number → (commit, author time) for ``lines`` of ``path`` at ``commit``, in one call."""
    if not lines:
        return {}
    ranges: list[list[int]] = []
    for number in sorted(set(lines)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    args = ["blame", "--porcelain"]
    for first, last in ranges:
        args += ["-L", f"{first},{last}"]
    return parse_blame_porcelain(repo.git(*args, commit, "--", path))


# ---- for-each-ref ----------------------------------------------------------------------
REF_FORMAT = "--format=%(objectname) %(refname)"


def parse_for_each_ref(out: bytes) -> dict[str, str]:
    """``git for-each-ref`` in ``REF_FORMAT``: ref name → object id (a ref name has no space)."""
    refs: dict[str, str] = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        oid, space, name = line.partition(" ")
        if space:
            refs[name] = oid
    return refs


def list_refs(repo: GitRepo, prefix: str) -> dict[str, str]:
    """Every ref under ``prefix/`` (full name) → the object it points at, in one call."""
    return parse_for_each_ref(repo.git("for-each-ref", REF_FORMAT, f"{prefix}/"))


# ---- push --porcelain ------------------------------------------------------------------
def parse_push_porcelain(out: bytes) -> dict[str, str]:
    """``git push --porcelain``: remote ref → git's summary ("new reference", "up to
    date", "<old>..<new>", ...). Lines are "<flag>\\t<from>:<to>\\t<summary>"."""
    results: dict[str, str] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and ":" in parts[1]:
            results[parts[1].split(":", 1)[1]] = parts[2].strip("[]")
    return results


def push(repo: GitRepo, remote: str, refspec: str) -> dict[str, str]:
    """Push ``refspec``; GitError when the remote refuses (a non-fast-forward, say)."""
    return parse_push_porcelain(repo.git("push", "--porcelain", remote, refspec))


# ---- diff-tree --raw -z between two trees: every entry with modes and ids -------------
def parse_raw_diff_entries(out: bytes) -> list[tuple[str, str, str, str, str, str]]:
    """The raw diff format with ``-z`` and no renames, for two trees: (status, old mode,
    new mode, old id, new id, path) per entry, in git's order (a tree before what it
    holds with ``-t``). A path is decoded with surrogateescape: whatever bytes a tree
    entry holds, it comes back as a str that encodes to them again."""
    entries: list[tuple[str, str, str, str, str, str]] = []
    tokens = out.split(b"\0")
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if not token.startswith(b":"):
            continue
        fields = token[1:].decode("ascii", "replace").split(" ")
        if len(fields) != 5 or position >= len(tokens):
            continue
        old_mode, new_mode, old_id, new_id, status = fields
        entries.append((status[:1], old_mode, new_mode, old_id, new_id, _path(tokens[position])))
        position += 1
    return entries


def diff_trees(
    repo: GitRepo, old_tree: str, new_tree: str
) -> list[tuple[str, str, str, str, str, str]]:
    """Every entry (trees too) that differs between two trees, recursively, in one call;
    subtrees with the same id on both sides are not entered (git compares ids)."""
    out = repo.git("diff-tree", "-r", "-t", "-z", "--raw", "--no-renames", old_tree, new_tree)
    return parse_raw_diff_entries(out)


def empty_tree(repo: GitRepo) -> str:
    """The id of the empty tree in this repository's object format (SHA-1 or SHA-256)."""
    return repo.git("hash-object", "-t", "tree", "--stdin", input_bytes=b"").decode().strip()


# ---- push --porcelain, with the flag of every ref -------------------------------------
def parse_push_flags(out: bytes) -> dict[str, tuple[str, str]]:
    """``git push --porcelain``: remote ref → (flag, summary). The flag is git's: " "
    fast-forward, "+" forced, "-" deleted, "*" new, "!" rejected, "=" up to date."""
    results: dict[str, tuple[str, str]] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 1 and ":" in parts[1]:
            results[parts[1].split(":", 1)[1]] = (parts[0], parts[2].strip())
    return results


def push_refs(
    repo: GitRepo, remote: str, refspecs: list[str], *options: str
) -> dict[str, tuple[str, str]]:
    """Push ``refspecs``; remote ref → (flag, summary), the rejected ones included. A push
    that never reached the point of updating refs (no such remote, no connection) raises
    GitError with git's own message."""
    args = ["push", "--porcelain", *options, remote, *refspecs]
    out = repo.git(*args, check=False)
    if b"\nDone" in out or out.startswith(b"Done"):
        return parse_push_flags(out)
    repo.git(*args)  # raises with git's own message; succeeds only on a second try
    return parse_push_flags(repo.git(*args, check=False))


# ---- diff-tree --stdin fed pairs of trees ----------------------------------------------
def parse_tree_pair_diffs(out: bytes) -> dict[str, dict[str, tuple[str, str]]]:
    """``git diff-tree --stdin -r -z`` fed "<tree> <tree>" lines: the second tree of each
    pair → {path: (new mode, new id)}. git prints each pair as "<tree> <tree>" and a
    newline (not a NUL, even with ``-z``) before its raw records."""
    result: dict[str, dict[str, tuple[str, str]]] = {}
    current: str | None = None
    tokens = out.split(b"\0")
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        while token and not token.startswith(b":"):
            line, newline, token = token.partition(b"\n")
            header = line.split()
            if len(header) == 2:
                current = header[1].decode("ascii", "replace")
                result.setdefault(current, {})
            if not newline:
                token = b""
        if token.startswith(b":") and current is not None and position < len(tokens):
            fields = token[1:].decode("ascii", "replace").split(" ")
            path = _path(tokens[position])
            position += 1
            if len(fields) == 5:
                result[current][path] = (fields[1], fields[3])
    return result


def tree_pair_entries(
    repo: GitRepo, base: str, trees: list[str], paths: list[str]
) -> dict[str, dict[str, tuple[str, str]]]:
    """For each of ``trees``, the entries among ``paths`` (literal) that differ from
    ``base`` (the empty tree: every entry present), with mode and id, in one call."""
    if not trees:
        return {}
    lines = "".join(f"{base} {tree}\n" for tree in trees).encode()
    out = repo.git(
        "--literal-pathspecs", "diff-tree", "--stdin", "-r", "-z", "--", *paths, input_bytes=lines
    )
    found = parse_tree_pair_diffs(out)
    return {tree: found.get(tree, {}) for tree in trees}


def parse_tree_pair_raw(
    out: bytes,
) -> dict[tuple[str, str], list[tuple[str, str, str, str, str, str]]]:
    """``git diff-tree --stdin -r -t -z --raw --no-renames`` fed "<tree> <tree>" lines: each
    pair → its records, as ``parse_raw_diff_entries`` gives them."""
    result: dict[tuple[str, str], list[tuple[str, str, str, str, str, str]]] = {}
    current: list[tuple[str, str, str, str, str, str]] | None = None
    tokens = out.split(b"\0")
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        while token and not token.startswith(b":"):
            line, newline, token = token.partition(b"\n")
            header = line.decode("ascii", "replace").split()
            if len(header) == 2:
                current = result.setdefault((header[0], header[1]), [])
            if not newline:
                token = b""
        if token.startswith(b":") and current is not None and position < len(tokens):
            fields = token[1:].decode("ascii", "replace").split(" ")
            path = _path(tokens[position])
            position += 1
            if len(fields) == 5:
                old_mode, new_mode, old_id, new_id, status = fields
                current.append((status[:1], old_mode, new_mode, old_id, new_id, path))
    return result


def diff_tree_pairs(
    repo: GitRepo, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], list[tuple[str, str, str, str, str, str]]]:
    """``diff_trees`` for many pairs of trees in one call."""
    if not pairs:
        return {}
    lines = "".join(f"{old} {new}\n" for old, new in dict.fromkeys(pairs)).encode()
    out = repo.git(
        "diff-tree", "--stdin", "-r", "-t", "-z", "--raw", "--no-renames", input_bytes=lines
    )
    found = parse_tree_pair_raw(out)
    return {pair: found.get(pair, []) for pair in pairs}


# ---- for-each-ref with each object's type and size -------------------------------------
TYPED_REF_FORMAT = "--format=%(objectname) %(objecttype) %(objectsize) %(refname)"


def parse_typed_refs(out: bytes) -> dict[str, tuple[str, str, int]]:
    """``git for-each-ref`` in ``TYPED_REF_FORMAT``: ref name → (object id, type, size)."""
    refs: dict[str, tuple[str, str, int]] = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        fields = line.split(" ", 3)
        if len(fields) == 4 and fields[2].isdigit():
            refs[fields[3]] = (fields[0], fields[1], int(fields[2]))
    return refs


def list_typed_refs(repo: GitRepo, prefix: str) -> dict[str, tuple[str, str, int]]:
    """Every ref under ``prefix/`` → (object id, type, size), in one call."""
    return parse_typed_refs(repo.git("for-each-ref", TYPED_REF_FORMAT, f"{prefix}/"))
