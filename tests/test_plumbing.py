"""git/plumbing.py: each parser on outputs generated as git writes them (hypothesis),
and each call against the real git binary, with names chosen to break a careless parser."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import git
from hypothesis import given
from hypothesis import strategies as st

from speckit_git_policy.errors import GitError
from speckit_git_policy.git import plumbing
from speckit_git_policy.git.plumbing import ObjectInfo
from speckit_git_policy.git.repo import GitRepo

# ---- strategies ------------------------------------------------------------------------
oids = st.one_of(st.text("0123456789abcdef", min_size=40, max_size=40),
                 st.text("0123456789abcdef", min_size=64, max_size=64))
# A path git can hold: any bytes but NUL, not empty.
raw_paths = st.binary(min_size=1, max_size=30).filter(lambda b: b"\0" not in b)
modes = st.sampled_from(["100644", "100755", "120000", "040000", "160000"])
object_types = st.sampled_from(["blob", "tree", "commit", "tag"])


def decoded(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# ---- config ---------------------------------------------------------------------------
config_keys = st.from_regex(r"[a-zA-Z][a-zA-Z0-9]{0,6}\.[a-zA-Z][a-zA-Z0-9.-]{0,8}", fullmatch=True)


@given(st.lists(st.tuples(config_keys, st.none() | st.binary(max_size=20).filter(lambda b: b"\0" not in b))))
def test_config_z_last_value_wins_and_a_bare_key_is_none(settings: list[tuple[str, bytes | None]]) -> None:
    out = b"".join(key.encode() + (b"\n" + value if value is not None else b"") + b"\0"
                   for key, value in settings)
    expected: dict[str, bytes | None] = {}
    for key, value in settings:
        expected[key.lower()] = value
    assert plumbing.parse_config_z(out) == expected


@given(st.lists(st.tuples(config_keys, st.none() | st.text(max_size=20).filter(
    lambda t: not any(c in t for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")))))
def test_config_lines_as_the_sh_hook_passes_them(settings: list[tuple[str, str | None]]) -> None:
    text = "".join(key + (" " + value if value is not None else "") + "\n" for key, value in settings)
    expected: dict[str, str | None] = {}
    for key, value in settings:
        expected[key.lower()] = value
    assert plumbing.parse_config_lines(text) == expected


def test_config_z_against_git(repo: Path) -> None:
    with open(repo / ".git" / "config", "a") as handle:
        handle.write('[speckit]\n\tcapsule\n\tworkspace = a\n\tworkspace = b\n\tnote = "two\\nlines"\n'
                     '[speckit "Sub"]\n\tKey = 1\n')
    out = subprocess.run(["git", "config", "-z", "--get-regexp", r"^speckit\."], cwd=repo,
                         capture_output=True, check=True).stdout
    assert plumbing.parse_config_z(out) == {
        "speckit.capsule": None, "speckit.workspace": b"b", "speckit.note": b"two\nlines",
        "speckit.sub.key": b"1",
    }


# ---- ls-tree / ls-files ---------------------------------------------------------------
@given(st.lists(st.tuples(modes, object_types, oids, st.none() | st.integers(0, 10**9), raw_paths)))
def test_ls_tree(entries: list[tuple[str, str, str, int | None, bytes]]) -> None:
    out = b"".join(b"%s %s %s %7s\t%s\0" % (mode.encode(), kind.encode(), oid.encode(),
                                            b"-" if size is None else str(size).encode(), path)
                   for mode, kind, oid, size, path in entries)
    assert plumbing.parse_ls_tree(out) == [(mode, kind, oid, size, decoded(path))
                                           for mode, kind, oid, size, path in entries]


@given(st.lists(st.tuples(modes, oids, st.integers(0, 3), raw_paths)))
def test_ls_files_stage(entries: list[tuple[str, str, int, bytes]]) -> None:
    out = b"".join(b"%s %s %d\t%s\0" % (mode.encode(), oid.encode(), stage, path)
                   for mode, oid, stage, path in entries)
    assert plumbing.parse_ls_files_stage(out) == [(mode, oid, stage, decoded(path))
                                                  for mode, oid, stage, path in entries]


# ---- cat-file --batch / --batch-check --------------------------------------------------
batch_items = st.lists(st.one_of(
    st.tuples(oids, object_types, st.binary(max_size=40)),
    # A name git could not resolve is echoed back: any text of a line, spaces included.
    st.text(min_size=1, max_size=30).filter(lambda t: "\n" not in t and t.strip() == t).map(
        lambda name: (name, "missing" if len(name) % 2 else "ambiguous")),
))


def batch_output(items: list[tuple[str, str, bytes] | tuple[str, str]], with_contents: bool) -> bytes:
    out = b""
    for item in items:
        if len(item) == 2:
            out += f"{item[0]} {item[1]}\n".encode()
        else:
            oid, kind, data = item
            out += f"{oid} {kind} {len(data)}\n".encode()
            if with_contents:
                out += data + b"\n"
    return out


@given(batch_items, st.booleans())
def test_batch_one_item_per_request_in_order(items: list[tuple[str, str, bytes] | tuple[str, str]],
                                             with_contents: bool) -> None:
    expected = [ObjectInfo(item[0], item[1], len(item[2]), item[2] if with_contents else None)
                if len(item) == 3 else None for item in items]
    assert plumbing.parse_batch(batch_output(items, with_contents), with_contents) == expected


# ---- raw diff ----------------------------------------------------------------------------
diff_records = st.lists(st.tuples(st.sampled_from(["A", "M", "D", "T", "R100", "C075"]), raw_paths, raw_paths),
                        max_size=4)


def raw_records(records: list[tuple[str, bytes, bytes]]) -> bytes:
    out = b""
    for status, path, other in records:
        out += b":100644 100644 %s %s %s\0%s\0" % (b"1" * 40, b"2" * 40, status.encode(), path)
        if status[0] in "RC":
            out += other + b"\0"
    return out


def paths_of(records: list[tuple[str, bytes, bytes]]) -> list[str]:
    paths = []
    for status, path, other in records:
        paths.append(decoded(path))
        if status[0] in "RC":
            paths.append(decoded(other))
    return paths


@given(st.lists(st.tuples(oids, diff_records), unique_by=lambda item: item[0]))
def test_raw_diff_of_many_commits(commits: list[tuple[str, list[tuple[str, bytes, bytes]]]]) -> None:
    # A commit with no change (within the pathspecs) prints nothing at all.
    out = b"".join(oid.encode() + b"\0" + raw_records(records) for oid, records in commits if records)
    assert plumbing.parse_raw_diff(out) == {oid: paths_of(records) for oid, records in commits if records}


@given(diff_records)
def test_raw_diff_without_commit_ids(records: list[tuple[str, bytes, bytes]]) -> None:
    # Paths that look like commit ids or raw records are still paths.
    assert plumbing.parse_raw_diff(raw_records(records)).get("", []) == paths_of(records)


def test_raw_diff_paths_spelled_like_headers_and_records() -> None:
    sha = "a" * 40
    records = [("M", sha.encode(), b""), ("A", b":100644 x", b""), ("R090", b"old\nname", b"b" * 40)]
    assert plumbing.parse_raw_diff(sha.encode() + b"\0" + raw_records(records)) == {
        sha: [sha, ":100644 x", "old\nname", "b" * 40]}


# ---- log -z ------------------------------------------------------------------------------
fields_text = st.text(max_size=20).filter(lambda t: "\0" not in t)


@given(st.lists(st.tuples(oids, fields_text, fields_text, st.integers(0, 2**40), fields_text)))
def test_commit_log(commits: list[tuple[str, str, str, int, str]]) -> None:
    out = b"".join("\0".join([sha, author, date, str(time), subject]).encode() + b"\0"
                   for sha, author, date, time, subject in commits)
    assert plumbing.parse_commit_log(out) == [
        {"commit": sha, "author": author, "date": date, "time": time, "subject": subject}
        for sha, author, date, time, subject in commits]


def test_a_commit_without_a_committer_time_is_read_as_time_0() -> None:
    """Imported history has commits whose committer line holds no date: git prints %ct as
    nothing, and the log goes on (their time is nobody's order)."""
    out = b"\0".join([b"a" * 40, b"C <c@x>", b"", b"", b"legacy"]) + b"\0"
    assert plumbing.parse_commit_log(out) == [
        {"commit": "a" * 40, "author": "C <c@x>", "date": "", "time": 0, "subject": "legacy"}]


# ---- rev-list ----------------------------------------------------------------------------
@given(st.lists(oids))
def test_object_ids(ids: list[str]) -> None:
    assert plumbing.parse_object_ids("".join(f"{oid}\n" for oid in ids).encode()) == ids


# ---- blame --porcelain ---------------------------------------------------------------------
# Lines of a file, written to look like porcelain headers and fields.
blame_texts = st.one_of(st.binary(max_size=30).filter(lambda b: b"\n" not in b),
                        st.sampled_from([b"a" * 40 + b" 1 1 1", b"author-time 5", b"\tx", b"",
                                         "x\x0cy\u2028z".encode()]))


@given(st.lists(st.tuples(st.sampled_from(["c" * 40, "d" * 40, "e" * 64]), st.integers(0, 2**33), blame_texts),
                min_size=1, max_size=8))
def test_blame_porcelain(lines: list[tuple[str, int, bytes]]) -> None:
    out = b""
    seen: dict[str, int] = {}
    for number, (sha, time, text) in enumerate(lines, start=1):
        out += f"{sha} {number + 3} {number}{' 1' if number % 2 else ''}\n".encode()
        if sha not in seen:  # header fields only the first time a commit appears
            seen[sha] = time
            out += (f"author A\nauthor-mail <a@b>\nauthor-time {time}\nauthor-tz +0000\n"
                    "summary author-time 1\nfilename f\n").encode()
        out += b"\t" + text + b"\n"
    assert plumbing.parse_blame_porcelain(out) == {
        number: (sha, seen[sha]) for number, (sha, _time, _text) in enumerate(lines, start=1)}


# ---- for-each-ref / push --porcelain -----------------------------------------------------
ref_names = st.from_regex(r"refs/[a-z]{1,5}(/[a-zA-Z0-9._-]{1,8}){0,3}", fullmatch=True)


@given(st.dictionaries(ref_names, oids))
def test_for_each_ref(refs: dict[str, str]) -> None:
    out = "".join(f"{oid} {name}\n" for name, oid in refs.items()).encode()
    assert plumbing.parse_for_each_ref(out) == refs


@given(st.dictionaries(ref_names, st.sampled_from(["[new reference]", "[up to date]", "a1b2..c3d4",
                                                     "+a1b2...c3d4 (forced update)"])))
def test_push_porcelain(results: dict[str, str]) -> None:
    out = "To /some/remote.git\n" + "".join(
        f"*\t{name}:{name}\t{summary}\n" for name, summary in results.items()) + "Done\n"
    assert plumbing.parse_push_porcelain(out.encode()) == {
        name: summary.strip("[]") for name, summary in results.items()}


# ---- against the real git binary -----------------------------------------------------------
# Names a line-based or space-splitting parser gets wrong.
TRICKY = ["plain.txt", "with space.txt", "tab\there", "new\nline", ":colon-first", "a" * 40, "ünï.txt"]


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def tricky(repo: Path) -> tuple[GitRepo, list[str]]:
    for number, name in enumerate(TRICKY):
        (repo / name).write_text(f"{name} {number}\n" * (number + 1))
    (repo / "dir").mkdir()
    (repo / "dir" / "inner").write_text("inner\n")
    first = commit_all(repo, "first")
    for name in TRICKY[::2]:
        (repo / name).write_text("changed\n")
    second = commit_all(repo, "second \x1e with a record separator, and ünïcode")
    return GitRepo.discover(repo), [first, second]


def test_tree_and_index_entries_name_every_tricky_path(tricky: tuple[GitRepo, list[str]]) -> None:
    repo, (first, second) = tricky
    wanted = [*TRICKY, "dir", "absent"]
    in_tree = plumbing.tree_entries(repo, second, wanted)
    assert sorted(in_tree) == sorted([*TRICKY, "dir"])
    for name in TRICKY:
        oid = git(repo.root, "rev-parse", f"{second}:{name}").strip()
        size = int(git(repo.root, "cat-file", "-s", oid))
        assert in_tree[name] == ("100644", oid, size)
    assert in_tree["dir"][0] == "040000" and in_tree["dir"][2] is None
    in_index = plumbing.index_entries(repo, wanted)
    assert in_index == {name: (mode, oid, None) for name, (mode, oid, _) in in_tree.items() if name != "dir"}


def test_object_infos_and_contents_in_request_order(tricky: tuple[GitRepo, list[str]]) -> None:
    repo, (first, second) = tricky
    names = [f"{second}:with space.txt", f"{second}:absent file", first, f"{first}:dir", "nope nope"]
    infos = plumbing.object_infos(repo, names)
    assert [info.kind if info else None for info in infos] == ["blob", None, "commit", "tree", None]
    contents = plumbing.read_objects(repo, names)
    assert contents[0] is not None and contents[0].data == (Path(repo.root) / "with space.txt").read_bytes()
    assert contents[2] is not None and contents[2].data == subprocess.run(
        ["git", "cat-file", "commit", first], cwd=repo.root, capture_output=True, check=True).stdout
    assert plumbing.existing_commits(repo, [second, "0" * 40, first]) == [second, first]
    assert plumbing.object_infos(repo, []) == []


def test_changed_paths_and_commits_touching(tricky: tuple[GitRepo, list[str]]) -> None:
    repo, (first, second) = tricky
    assert sorted(plumbing.changed_paths(repo, second)) == sorted(TRICKY[::2])
    assert sorted(plumbing.changed_paths(repo, first)) == sorted([*TRICKY, "dir/inner"])  # a root commit
    assert plumbing.commits_touching(repo, [first, second], ["new\nline"]) == {first}
    assert plumbing.commits_touching(repo, [first, second], [":colon-first", "a" * 40]) == {first, second}
    assert plumbing.commits_touching(repo, [first, second], ["absent"]) == set()
    # A file named like a commit asked about: --name-only output could not tell them apart.
    (Path(repo.root) / first).write_text("named after the first commit\n")
    third = commit_all(repo.root, "third")
    assert plumbing.commits_touching(repo, [first, third], [first]) == {third}
    assert plumbing.commits_touching(repo, [], ["a" * 40]) == set()
    (Path(repo.root) / "tab\there").write_text("staged\n")
    git(repo.root, "add", "tab\there")
    assert plumbing.staged_paths(repo, ["tab\there", "plain.txt"]) == ["tab\there"]


def test_commit_infos_as_git_shows_them(tricky: tuple[GitRepo, list[str]]) -> None:
    repo, (first, second) = tricky
    infos = plumbing.commit_infos(repo, [second, "0" * 40, first])
    assert list(infos) == [second, first]
    for sha, info in infos.items():
        assert info == plumbing.commit_info(repo, sha)
        shown = git(repo.root, "show", "-s", "--format=%an <%ae>%n%aI%n%ct", sha).splitlines()
        assert [info["author"], info["date"], str(info["time"])] == shown
    assert infos[second]["subject"] == "second \x1e with a record separator, and ünïcode"
    with pytest.raises(GitError, match="show"):
        plumbing.commit_info(repo, "0" * 40)


def test_rev_list_with_literal_pathspecs(tricky: tuple[GitRepo, list[str]]) -> None:
    repo, (first, second) = tricky
    assert plumbing.rev_list(repo, "HEAD") == [second, first]
    assert plumbing.rev_list(repo, "HEAD", pathspecs=["tab\there"]) == [second, first]
    assert plumbing.rev_list(repo, "HEAD", pathspecs=["with space.txt"]) == [first]
    assert plumbing.rev_list(repo, "HEAD", pathspecs=["*.txt"]) == []  # literal: no glob
    assert plumbing.rev_list(repo, "ORIG_HEAD..HEAD", check=False) == []


def test_blame_lines_against_git(repo: Path) -> None:
    lines = ["one", "a" * 40 + " 1 1 1", "\tthree", "x\x0cy\u2028z", "author-time 5"]
    (repo / "f.txt").write_text("\n".join(lines) + "\n")
    first = commit_all(repo, "first")
    lines[1] = "changed"
    (repo / "f.txt").write_text("\n".join(lines) + "\n")
    second = commit_all(repo, "second")
    git_repo = GitRepo.discover(repo)
    blamed = plumbing.blame_lines(git_repo, second, "f.txt", [5, 1, 2, 3, 4])
    times = {sha: int(git(repo, "show", "-s", "--format=%at", sha)) for sha in (first, second)}
    assert blamed == {1: (first, times[first]), 2: (second, times[second]), 3: (first, times[first]),
                      4: (first, times[first]), 5: (first, times[first])}
    assert plumbing.blame_lines(git_repo, second, "f.txt", [2]) == {2: (second, times[second])}
    assert plumbing.blame_lines(git_repo, second, "f.txt", []) == {}


def test_list_refs_and_push(policy_repo: Path, bare_remote: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    head = git(policy_repo, "rev-parse", "HEAD").strip()
    git(policy_repo, "update-ref", "refs/speckit/default/policy", head)
    git(policy_repo, "update-ref", "refs/speckit/default/runs/0a", head)
    git(policy_repo, "update-ref", "refs/speckitx/other", head)
    assert plumbing.list_refs(repo, "refs/speckit") == {
        "refs/speckit/default/policy": head, "refs/speckit/default/runs/0a": head}
    assert plumbing.list_refs(repo, "refs/none") == {}
    spec = "refs/speckit/*:refs/speckit/*"
    assert plumbing.push(repo, str(bare_remote), spec) == {
        "refs/speckit/default/policy": "new reference", "refs/speckit/default/runs/0a": "new reference"}
    assert plumbing.push(repo, str(bare_remote), spec) == {
        "refs/speckit/default/policy": "up to date", "refs/speckit/default/runs/0a": "up to date"}


def test_a_non_utf8_path_round_trips(repo: Path) -> None:
    name = b"caf\xe9.txt"
    try:
        with open(os.path.join(os.fsencode(repo), name), "wb") as handle:
            handle.write(b"x\n")
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    sha = commit_all(repo, "latin-1 name")
    git_repo = GitRepo.discover(repo)
    path = os.fsdecode(name)
    assert plumbing.changed_paths(git_repo, sha) == [path]
    entry = plumbing.tree_entries(git_repo, sha, [path])[path]
    info = plumbing.object_infos(git_repo, [f"{sha}:{path}"])[0]
    assert info is not None and info.oid == entry[1] and info.size == 2
