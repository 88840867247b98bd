"""Adopting the tool in a repository with history: the adoption capture at init/install,
pre-adoption history in verify and doctor, and backfill (docs/GUIDE.md, issue 12)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLE_DOC, EXAMPLE_POLICY, git

from speckit_git_policy.adoption import History, adopt, backfill, history_gaps
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores

AUTHORS = ["Ada Author <ada@example.com>", "Bo Budget <bo@example.com>", "Cy Compliance <cy@example.com>"]
START = 1_700_000_000


def plan_policy(plan: int) -> str:
    return re.sub(r"(?m)^plan = \d+", f"plan = {plan}", EXAMPLE_POLICY.read_text())


def build_history(root: Path, contents: list[str | None], extra: int = 0) -> list[str]:
    """One commit per item of ``contents`` (the policy's text; None: a commit that leaves
    it alone), authors in turn, by ``git fast-import``; then ``extra`` commits that touch
    another file. Returns every commit, oldest first."""
    stream = []

    def blob(data: bytes) -> None:
        stream.append(b"data %d\n" % len(data) + data + b"\n")

    items = [*contents, *([None] * extra)]
    for n, text in enumerate(items):
        author = AUTHORS[n % len(AUTHORS)].encode()
        stream.append(b"commit refs/heads/main\nmark :%d\n" % (n + 1))
        stream.append(b"author %s %d +0000\ncommitter %s %d +0000\n" % (author, START + n, author, START + n))
        blob(f"commit {n}".encode())
        if n == 0:
            stream.append(b"M 100644 inline docs/MODEL-POLICY.md\n")
            blob(EXAMPLE_DOC.read_bytes())
        if text is not None:
            stream.append(b"M 100644 inline model_policy.toml\n")
            blob(text.encode())
        stream.append(b"M 100644 inline counter.txt\n")
        blob(str(n).encode())
    subprocess.run(["git", "fast-import", "--quiet", "--export-marks=marks"], cwd=root,
                   input=b"".join(stream), check=True)
    marks = dict(line.split() for line in (root / "marks").read_text().splitlines())
    (root / "marks").unlink()
    git(root, "reset", "-q", "--hard", "main")
    return [marks[f":{n + 1}"] for n in range(len(items))]


def cli(root: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "speckit_git_policy", "-C", str(root), *args],
                            capture_output=True, text=True, check=False, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


@pytest.fixture
def history(repo: Path) -> tuple[Path, list[str]]:
    """30 commits that change the policy (the last one's content is also the first's: a
    revert), then 3 that do not: a repository that had a policy before the tool."""
    plans = [8000 + n for n in range(29)] + [8000]
    shas = build_history(repo, [plan_policy(plan) for plan in plans], extra=3)
    return repo, shas


def bindings(root: Path) -> dict[str, str]:
    """commit → policy id."""
    return {b["commit"]: policy_id for policy_id, found in Stores(GitRepo.discover(root)).all_bindings().items()
            for b in found}


# ---- adoption ------------------------------------------------------------------------------
def test_install_adopts_head_and_verify_stays_green(history: tuple[Path, list[str]]) -> None:
    root, shas = history
    out = cli(root, "install").stdout
    assert "adopted" in out and "29 earlier commit(s)" in out and "git speckit-policy backfill" in out
    # Not HEAD, which did not itself touch the policy: the commit that last changed it
    # (only a commit that changed a source is bound, docs/DESIGN.md §5).
    assert set(bindings(root)) == {shas[29]}
    document = Stores(GitRepo.discover(root)).load(bindings(root)[shas[29]])
    assert document["provenance"]["trigger"] == "adoption"
    assert document["provenance"]["commit"] == shas[29]

    verify = cli(root, "verify", "--json")
    report = json.loads(verify.stdout)
    assert report["ok"] is True and verify.returncode == 0
    notes = [p for p in report["problems"] if p["kind"] == "pre_adoption"]
    assert len(notes) == 1 and notes[0]["severity"] == "warning"
    assert notes[0]["commits"] == 29 and "git speckit-policy backfill" in notes[0]["message"]
    assert not [p for p in report["problems"] if p["kind"] == "missed_capture"]

    doctor = json.loads(cli(root, "doctor", "--json").stdout)
    missed = next(c for c in doctor["checks"] if c["name"] == "missed captures")
    assert missed["ok"] is True and "29 older commit(s)" in missed["detail"]
    assert "git speckit-policy backfill" in missed["detail"]


def test_adoption_is_idempotent_and_init_reports_it(history: tuple[Path, list[str]]) -> None:
    root, shas = history
    first = json.loads(cli(root, "init", "--json").stdout)
    assert first["written"] == []
    assert first["adoption"]["status"] == "adopted" and first["adoption"]["commit"] == shas[29]
    assert first["adoption"]["earlier"] == 29 and first["adoption"]["created"] is True
    again = json.loads(cli(root, "init", "--json").stdout)
    assert again["adoption"]["status"] == "already" and again["adoption"]["commit"] == shas[29]
    assert "adopted" not in cli(root, "install").stdout
    assert set(bindings(root)) == {shas[29]}


def test_no_adoption_without_a_valid_policy_at_head(repo: Path) -> None:
    build_history(repo, [plan_policy(8000), plan_policy(8001).replace('mode = "prompts_only"', 'mode = "all"')])
    result = cli(repo, "install")
    assert "not adopted" in result.stderr and "validation" in result.stderr
    assert bindings(repo) == {}
    fresh = GitRepo.discover(repo)
    assert adopt(fresh).status == "invalid"


def test_no_adoption_in_an_empty_repository(repo: Path) -> None:
    result = json.loads(cli(repo, "init", "--json").stdout)
    assert result["adoption"]["status"] == "unborn"
    git(repo, "commit", "-q", "--allow-empty", "-m", "empty")
    assert adopt(GitRepo.discover(repo)).status == "no_policy"


def test_a_policy_commit_after_adoption_without_a_binding_is_missed(history: tuple[Path, list[str]]) -> None:
    root, _shas = history
    cli(root, "install")
    policy = root / "model_policy.toml"
    policy.write_text(plan_policy(9999))
    git(root, "-c", f"core.hooksPath={root / 'none'}", "commit", "-qam", "changed without the hooks")
    missed_sha = git(root, "rev-parse", "HEAD").strip()
    report = json.loads(cli(root, "verify", "--json", check=False).stdout)
    assert report["ok"] is False
    missed = [p["commit"] for p in report["problems"] if p["kind"] == "missed_capture"]
    assert missed == [missed_sha]
    assert any(p["kind"] == "pre_adoption" for p in report["problems"])  # still only a note


def test_gaps_name_the_adoption_point(history: tuple[Path, list[str]]) -> None:
    root, shas = history
    repo = GitRepo.discover(root)
    assert history_gaps(repo).missed == shas[:30][::-1]  # never adopted: as before
    adopt(repo)
    gaps = history_gaps(repo)
    assert gaps.adoption == shas[29] and gaps.missed == [] and len(gaps.pre_adoption) == 29


# ---- backfill ------------------------------------------------------------------------------
def test_backfill_captures_the_whole_history_once(history: tuple[Path, list[str]]) -> None:
    root, shas = history
    cli(root, "install")
    result = json.loads(cli(root, "backfill", "--json").stdout)
    policy_commits = shas[:30]
    assert [item["commit"] for item in result["commits"]] == policy_commits[:29]  # oldest first
    # 30 commits, 29 distinct contents; the last was bound at adoption, its twin reuses it.
    assert result["captured"] == 28 and result["reused"] == 1
    assert result["already_bound"] == 1 and result["skipped"] == []
    assert bindings(root)[shas[0]] == bindings(root)[shas[29]]
    assert shas[-1] not in bindings(root)

    again = json.loads(cli(root, "backfill", "--json").stdout)
    assert again["captured"] == 0 and again["reused"] == 0 and again["commits"] == []
    assert again["already_bound"] == 30

    report = json.loads(cli(root, "verify", "--json").stdout)
    assert report["ok"] is True and report["checked"] == 29
    assert not [p for p in report["problems"] if p["kind"] in ("pre_adoption", "missed_capture")]
    assert git(root, "fsck", "--strict", "--no-progress") is not None

    log = json.loads(cli(root, "log", "--json").stdout)
    assert [entry["commit"] for entry in log] == policy_commits[::-1]
    by_commit = {entry["commit"]: entry for entry in log}
    for n, sha in enumerate(policy_commits):
        assert by_commit[sha]["author"] == AUTHORS[n % 3]
    assert by_commit[shas[1]]["changed"] == ["budgets.tokens.plan", "source_digests.model_policy.toml"]


def test_blame_after_backfill_names_the_author_of_an_old_line(history: tuple[Path, list[str]]) -> None:
    root, shas = history
    cli(root, "install")
    cli(root, "backfill")
    cli(root, "run", "start", "--run-id", "r1")
    rows = json.loads(cli(root, "blame", "r1", "budgets.tokens.plan", "--json").stdout)
    assert rows[0]["commit"] == shas[29] and rows[0]["author"] == AUTHORS[29 % 3]
    rows = json.loads(cli(root, "blame", "r1", "capture.mode", "--json").stdout)
    assert rows[0]["commit"] == shas[0] and rows[0]["author"] == AUTHORS[0]


def test_backfill_since_starts_at_that_commit(history: tuple[Path, list[str]]) -> None:
    root, shas = history
    result = json.loads(cli(root, "backfill", "--since", shas[25], "--json").stdout)
    assert [item["commit"] for item in result["commits"]] == shas[25:30]
    gaps = history_gaps(GitRepo.discover(root))
    assert gaps.adoption == shas[25] and len(gaps.pre_adoption) == 25 and gaps.missed == []
    rest = json.loads(cli(root, "backfill", "--json").stdout)
    assert [item["commit"] for item in rest["commits"]] == shas[:25]


def test_backfill_skips_what_cannot_be_compiled_and_verify_stays_green(repo: Path) -> None:
    contents: list[str | None] = [plan_policy(8000), "this is [not toml", plan_policy(8002)]
    shas = build_history(repo, contents)
    result = json.loads(cli(repo, "backfill", "--json").stdout)
    assert [item["commit"] for item in result["commits"]] == [shas[0], shas[2]]
    assert [item["commit"] for item in result["skipped"]] == [shas[1]]
    assert "model_policy.toml" in result["skipped"][0]["reason"]
    report = json.loads(cli(repo, "verify", "--json").stdout)
    assert report["ok"] is True
    warnings = [p for p in report["problems"] if p["kind"] == "uncapturable"]
    assert [p["commit"] for p in warnings] == [shas[1]] and warnings[0]["severity"] == "warning"


def test_backfill_captures_an_invalid_policy_marked_as_the_hook_would(repo: Path) -> None:
    invalid = plan_policy(8001).replace('mode = "prompts_only"', 'mode = "all"')
    shas = build_history(repo, [plan_policy(8000), invalid])
    cli(repo, "backfill")
    stores = Stores(GitRepo.discover(repo))
    document = stores.load(bindings(repo)[shas[1]])
    assert document["provenance"]["validated"] is False
    assert document["provenance"]["trigger"] == "backfill"


def test_backfill_follows_merges_by_their_first_parent(repo: Path) -> None:
    build_history(repo, [plan_policy(8000)])
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "model_policy.toml").write_text(plan_policy(8100))
    git(repo, "commit", "-qam", "side change")
    side = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    (repo / "other.txt").write_text("x\n")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-qm", "main change")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = git(repo, "rev-parse", "HEAD").strip()
    result = backfill(GitRepo.discover(repo))
    bound_now = [item["commit"] for item in result.commits]
    assert side in bound_now and merge in bound_now  # the merge changed it against main
    assert bindings(repo)[side] == bindings(repo)[merge]


def test_backfill_without_the_capsule(repo: Path) -> None:
    git(repo, "config", "speckit.capsule", "false")
    shas = build_history(repo, [plan_policy(8000), plan_policy(8001), plan_policy(8000)])
    result = backfill(GitRepo.discover(repo))
    assert result.captured == 2 and result.reused == 1
    assert set(bindings(repo)) == set(shas)
    assert backfill(GitRepo.discover(repo)).commits == []
    assert git(repo, "for-each-ref", "refs/speckit") == ""


def test_backfill_writes_two_capsule_commits_that_keep_every_commit_reachable(repo: Path) -> None:
    shas = build_history(repo, [plan_policy(8000 + n) for n in range(12)])
    backfill(GitRepo.discover(repo))
    ref = "refs/speckit/default/policy"
    assert git(repo, "rev-list", "--count", "--first-parent", ref).strip() == "2"
    parents = git(repo, "rev-list", "--parents", "-n1", ref).split()[1:]
    assert shas[-1] in parents and len(parents) == 2  # the newest bound commit reaches the rest
    # Drop every branch: the capsule alone keeps the bound commits.
    git(repo, "checkout", "-q", "--orphan", "elsewhere")
    git(repo, "commit", "-q", "--allow-empty", "-m", "unrelated")
    git(repo, "branch", "-D", "main")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    for sha in shas:
        assert git(repo, "cat-file", "-t", sha).strip() == "commit"


def test_backfill_starts_a_fixed_number_of_git_processes(tmp_path: Path) -> None:
    """No process per commit: the same number of git calls for 5 and for 40 policy commits."""
    real_git = subprocess.run(["which", "git"], capture_output=True, text=True, check=True).stdout.strip()
    counts = []
    for size in (5, 40):
        root = tmp_path / f"r{size}"
        root.mkdir()
        git(root, "init", "-q")
        build_history(root, [plan_policy(8000 + n) for n in range(size)], extra=size)
        wrapper = tmp_path / f"bin{size}"
        wrapper.mkdir()
        log = tmp_path / f"git{size}.log"
        (wrapper / "git").write_text(f'#!/bin/sh\necho "$1 $2 $3" >> "{log}"\nexec "{real_git}" "$@"\n')
        (wrapper / "git").chmod(0o755)
        env = {**os.environ, "PATH": f"{wrapper}{os.pathsep}{os.environ['PATH']}"}
        result = json.loads(cli(root, "backfill", "--json", env=env).stdout)
        assert len(result["commits"]) == size
        counts.append(len(log.read_text().splitlines()))
    assert counts[0] == counts[1], counts
    assert counts[1] < 25, counts


def test_progress_is_shown_on_a_terminal_only(history: tuple[Path, list[str]]) -> None:
    root, _shas = history
    piped = cli(root, "backfill")
    assert "capturing" not in piped.stderr and "\r" not in piped.stderr
    git(root, "update-ref", "-d", "refs/speckit/default/policy")
    import shutil

    shutil.rmtree(root / ".speckit")
    out_master, out_slave = os.openpty()
    process = subprocess.Popen([sys.executable, "-m", "speckit_git_policy", "-C", str(root), "backfill"],
                               stdout=subprocess.PIPE, stderr=out_slave, text=True)
    os.close(out_slave)
    chunks = []
    while True:
        try:
            chunk = os.read(out_master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(out_master)
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    shown = b"".join(chunks).decode()
    assert "capturing:" in shown and "100%" in shown
    assert "bound 30 commit(s)" in stdout


# ---- the history walk ----------------------------------------------------------------------
def test_history_tips_and_oldest() -> None:
    #   a - b - c - m
    #        \     /
    #         d --
    graph = [(4, "m", ("c", "d")), (3, "c", ("b",)), (3, "d", ("b",)), (2, "b", ("a",)), (1, "a", ())]
    history = History(graph)
    assert history.tips({"a", "c", "d"}) == ["c", "d"]
    assert history.tips({"a", "b", "m"}) == ["m"]
    assert history.ancestors("c") == {"a", "b"}
    assert history.oldest(["c", "d"]) == "d"  # same time: the deeper in the walk
    assert history.oldest(["m", "b"]) == "b"
