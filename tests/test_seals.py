"""Signed seals with a real ssh-keygen key pair: push seals every capsule ref, verify
checks the seals against gpg.ssh.allowedSignersFile, and with speckit.requireSigned a
remote tip that is unsigned or signed by a key not allowed is refused by pull."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import git
from test_trust_support import hostile, plumb, policy_clone, policy_ref, run_with_events, tip

from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule import sync

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")


def key_pair(directory: Path, name: str) -> Path:
    """A fresh ed25519 key pair; the public key's path."""
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                   check=True)
    return key.with_suffix(".pub")


def use_key(clone: Path, public: Path) -> None:
    git(clone, "config", "gpg.format", "ssh")
    git(clone, "config", "user.signingkey", str(public))


def allow(clone: Path, allowed: Path, *publics: Path) -> None:
    allowed.write_text("".join(f"ada@example.com {p.read_text().strip()}\n" for p in publics))
    git(clone, "config", "gpg.ssh.allowedSignersFile", str(allowed))


def invoke(path: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["-C", str(path), *args])


@pytest.fixture
def signed(tmp_path: Path, bare_remote: Path) -> tuple[Path, Path, Path]:
    """Clone a signs its pushes with a key b allows; b requires signed tips."""
    keys = tmp_path / "keys"
    keys.mkdir()
    good = key_pair(keys, "good")
    a = policy_clone(tmp_path, bare_remote)
    use_key(a, good)
    git(a, "config", "speckit.sign", "true")
    run_with_events(a, "r", 2)
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare_remote), str(b))
    allow(b, tmp_path / "allowed", good)
    git(b, "config", "speckit.requireSigned", "true")
    return a, b, keys


def test_push_seals_every_ref_and_a_signed_tip_is_pulled(signed: tuple[Path, Path, Path],
                                                         bare_remote: Path) -> None:
    a, b, _keys = signed
    assert invoke(a, "push").exit_code == 0
    for ref in (policy_ref(), *plumb(bare_remote, "for-each-ref", "--format=%(refname)",
                                     "refs/speckit/default/runs/").split()):
        commit = tip(bare_remote, ref)
        assert "gpgsig" in plumb(bare_remote, "cat-file", "commit", commit)
        assert tree_equal(a, ref, commit)
    report = json.loads(invoke(b, "pull", "--json").stdout)
    assert report["refused"] == [] and "refused" not in report["refs"].values()
    result = invoke(b, "verify", "--json")
    assert not [p for p in json.loads(result.stdout)["problems"] if p["kind"] == "seal"]
    # A second push with nothing new puts no second seal.
    before = tip(bare_remote, policy_ref())
    assert invoke(a, "push").exit_code == 0
    assert tip(bare_remote, policy_ref()) == before


def tree_equal(clone: Path, ref: str, sealed: str) -> bool:
    parent = plumb(clone, "rev-parse", f"{sealed}^")
    return plumb(clone, "rev-parse", f"{sealed}^{{tree}}") == plumb(clone, "rev-parse", f"{parent}^{{tree}}")


def test_an_unsigned_remote_tip_is_refused_once_signing_is_required(
        signed: tuple[Path, Path, Path], bare_remote: Path) -> None:
    a, b, _keys = signed
    assert invoke(a, "push").exit_code == 0
    assert invoke(b, "pull").exit_code == 0
    hostile(bare_remote, policy_ref(), {})  # an unsigned commit on top of the seal
    before = tip(b, policy_ref())
    report = json.loads(invoke(b, "pull", "--json").stdout)
    assert report["refs"][policy_ref()] == "refused"
    [refused] = report["refused"]
    assert refused["kind"] == "unsigned" and "unsigned" in refused["reason"]
    assert tip(b, policy_ref()) == before


def test_a_tip_signed_by_a_key_not_allowed_is_refused(signed: tuple[Path, Path, Path],
                                                      bare_remote: Path) -> None:
    a, b, keys = signed
    use_key(a, key_pair(keys, "stranger"))
    assert invoke(a, "push").exit_code == 0  # sealed, with a key b does not allow
    report = json.loads(invoke(b, "pull", "--json").stdout)
    assert report["refs"][policy_ref()] == "refused"
    assert all(item["kind"] == "unsigned" and "allowedSignersFile" in item["reason"]
               for item in report["refused"])


def test_verify_checks_the_newest_seal(signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    a, _b, keys = signed
    assert invoke(a, "push").exit_code == 0
    allow(a, tmp_path / "allowed-a", key_pair(keys, "someone-else"))
    result = invoke(a, "verify", "--json")
    assert result.exit_code == 1
    seals = [p for p in json.loads(result.stdout)["problems"] if p["kind"] == "seal"]
    assert seals and all("does not verify" in p["message"] for p in seals)


def test_signing_without_a_key_says_how_to_set_it_up(tmp_path: Path, bare_remote: Path) -> None:
    a = policy_clone(tmp_path, bare_remote)
    git(a, "config", "speckit.sign", "true")
    git(a, "config", "gpg.format", "ssh")
    result = invoke(a, "push")
    assert result.exit_code == 1
    assert "user.signingkey" in result.output
    assert sync.resolve_remote(GitRepo.discover(a)) == "origin"
