"""push and pull take what git takes: a remote name, scp-like host:path and ssh:// (through
git's own fake-ssh technique, GIT_SSH_COMMAND), https:// (rewritten by url.insteadOf to a
repository on disk), file://, a path, and a bundle file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import git
from test_trust_support import event_ids, fake_ssh, policy_clone, run_with_events

from speckit_git_policy.cli import cli


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(path), *args])


@pytest.fixture
def source(tmp_path: Path, bare_remote: Path) -> Path:
    a = policy_clone(tmp_path, bare_remote)
    run_with_events(a, "r", 3)
    return a


def fresh(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    git(tmp_path, "init", "-q", str(path))
    return path


def round_trip(source: Path, target: Path, url: str) -> None:
    pushed = invoke(source, "push", url, "--json")
    assert pushed.exit_code == 0, pushed.output
    pulled = invoke(target, "pull", url, "--json")
    assert pulled.exit_code == 0, pulled.output
    assert json.loads(pulled.stdout)["refused"] == []
    assert len(event_ids(target, "r")) == 3


@pytest.mark.parametrize("form", ["scp", "ssh"])
def test_ssh_urls_through_a_fake_ssh(form: str, source: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    remote = tmp_path / "over-ssh.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    monkeypatch.setenv("GIT_SSH_COMMAND", fake_ssh(tmp_path))
    monkeypatch.setenv("GIT_SSH_VARIANT", "simple")
    url = f"fakehost:{remote}" if form == "scp" else f"ssh://fakehost{remote}"
    round_trip(source, fresh(tmp_path, "target"), url)


def test_https_as_git_rewrites_it(source: Path, tmp_path: Path) -> None:
    remote = tmp_path / "over-https.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    url = "https://git.example.invalid/org/repo.git"
    target = fresh(tmp_path, "target")
    for clone in (source, target):
        git(clone, "config", f"url.{remote.as_uri()}.insteadOf", url)
    round_trip(source, target, url)


def test_file_url_and_plain_path(source: Path, tmp_path: Path) -> None:
    remote = tmp_path / "on-disk.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    round_trip(source, fresh(tmp_path, "by-url"), remote.as_uri())
    round_trip(source, fresh(tmp_path, "by-path"), str(remote))


def test_a_bundle_file(source: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "capsule.bundle"
    round_trip(source, fresh(tmp_path, "target"), str(bundle))
    assert "refs/speckit/default/policy" in git(tmp_path, "bundle", "list-heads", str(bundle))
    # Pushing again merges what the bundle held: nothing it carried is lost.
    other = fresh(tmp_path, "other")
    assert invoke(other, "pull", str(bundle)).exit_code == 0
    run_with_events_after_pull(other)
    assert invoke(other, "push", str(bundle)).exit_code == 0
    assert invoke(source, "pull", str(bundle)).exit_code == 0
    assert len(event_ids(source, "r")) == 4


def run_with_events_after_pull(clone: Path) -> None:
    from test_capsule_support import event, timestamp

    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.store.capsule.capsule import Capsule

    Capsule(GitRepo.discover(clone)).append_event("r", event("r", "from-other", timestamp(59)))


def test_what_is_not_a_remote(source: Path, tmp_path: Path) -> None:
    for command in ("push", "pull"):
        assert invoke(source, command, "nowhere").exit_code == 2
    assert invoke(source, "pull", str(tmp_path / "missing.bundle")).exit_code == 2
    assert invoke(source, "pull", "--", "-x").exit_code == 2
