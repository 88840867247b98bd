"""attest: a DSSE-signed in-toto statement of a run, signed with ssh-keygen, and its
offline check (evidence/attest.py, evidence/sshsig.py).

Key pairs are made with ssh-keygen in each test. The envelope and statement are read
back with independent implementations: ``in-toto-attestation`` (the Statement v1
model) and ``securesystemslib`` (DSSE), and the signature is checked with ssh-keygen
directly over the PAE that securesystemslib computes."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from click.testing import CliRunner
from conftest import git
from evidence_helpers import (
    allowed_signers,
    forge,
    make_key,
    use_signing_key,
)
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope

from speckit_git_policy import runs
from speckit_git_policy.cli import cli
from speckit_git_policy.evidence import attest as attestation
from speckit_git_policy.evidence import sshsig
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule import layout

RUN = "audit-1"
pytest_plugins = ["evidence_fixtures"]  # the audited-repository fixtures, shared by the session


@pytest.fixture
def signed(audited: Path, tmp_path: Path) -> dict[str, Any]:
    """An audited repository, a signing key configured as git's, and its allowed signers."""
    root = audited
    keys = tmp_path / "keys"
    keys.mkdir()
    key = make_key(keys, "ada")
    use_signing_key(root, key.with_suffix(".pub"))
    allowed = allowed_signers(keys / "allowed_signers", "ada@example.com", key)
    envelope_file = tmp_path / "audit-1.intoto.jsonl"
    result = invoke(root, "attest", RUN, "--output", str(envelope_file))
    assert result.exit_code == 0, result.output
    return {"root": root, "key": key, "keys": keys, "allowed": allowed, "envelope": envelope_file}


def invoke(root: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["-C", str(root), *args])


def check(signed: dict[str, Any], envelope: Path | None = None, allowed: Path | None = None) -> Any:
    return invoke(signed["root"], "attest", "--verify", str(envelope or signed["envelope"]),
                  "--allowed-signers", str(allowed or signed["allowed"]), "--json")


def read_envelope(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def payload_of(envelope: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(envelope["payload"]))


# ---- what is signed ---------------------------------------------------------------------
def test_the_envelope_and_statement_read_with_independent_implementations(signed: dict[str, Any]) -> None:
    envelope = read_envelope(signed["envelope"])
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    # securesystemslib's DSSE: the same envelope and the same PAE.
    dsse = Envelope.from_dict(copy.deepcopy(envelope))  # it consumes the dict
    assert dsse.payload_type == "application/vnd.in-toto+json"
    assert dsse.pae() == attestation.pae(dsse.payload_type, dsse.payload)
    # in-toto-attestation's Statement v1 model validates the statement.
    proto = json_format.ParseDict(json.loads(dsse.payload), statement_pb2.Statement())
    statement = Statement.copy_from_pb(proto)
    statement.validate()
    assert statement.pb.type == "https://in-toto.io/Statement/v1"
    assert statement.pb.predicate_type == attestation.PREDICATE_TYPE
    names = [subject.name for subject in statement.pb.subject]
    assert names[0] == f"mv2://default/runs/{RUN}"
    assert len(names) == 3 and all(n.startswith("mv2://default/policy/") for n in names[1:])
    # ssh-keygen itself accepts the signature over securesystemslib's PAE.
    (signature,) = envelope["signatures"]
    armored = signed["keys"] / "sig"
    armored.write_text(sshsig.armor(base64.b64decode(signature["sig"])))
    result = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-n", "speckit-git-policy", "-I", "ada@example.com",
         "-f", str(signed["allowed"]), "-s", str(armored)],
        input=dsse.pae(), capture_output=True,
    )
    assert result.returncode == 0, result.stderr
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", str(signed["key"]) + ".pub"],
                                 capture_output=True, text=True, check=True).stdout.split()[1]
    assert signature["keyid"] == fingerprint


def test_subject_digests_can_be_recomputed_with_the_cli_alone(signed: dict[str, Any]) -> None:
    root = signed["root"]
    subjects = {s["name"]: s for s in payload_of(read_envelope(signed["envelope"]))["subject"]}
    events = json.loads(invoke(root, "run", "show", RUN, "--json").output)
    log = subjects[f"mv2://default/runs/{RUN}"]
    assert log["annotations"]["events"] == len(events)
    assert log["digest"]["sha256"] == hashlib.sha256(rfc8785.dumps(events)).hexdigest()
    for name, subject in subjects.items():
        if "/policy/" in name:
            raw = subprocess.run(["git", "speckit-policy", "-C", str(root), "show", name, "--raw"],
                                 capture_output=True, check=True).stdout
            assert subject["digest"]["sha256"] == hashlib.sha256(raw).hexdigest()


def test_the_predicate_holds_commits_validation_decisions_and_usage(signed: dict[str, Any]) -> None:
    predicate = payload_of(read_envelope(signed["envelope"]))["predicate"]
    first, second = predicate["policies"]
    assert first["subject"] == "Add model policy" and first["validated"] is True
    assert first["author"] == "Ada Author <ada@example.com>" and first["date"]
    assert second["commit"] == git(signed["root"], "rev-parse", "HEAD").strip()
    assert [s["kind"] for s in predicate["stages"]] == ["start", "stage", "stage", "checkpoint"]
    assert predicate["stages"][2]["policy_changed"] is True
    assert predicate["decisions"][0]["verdict"] == "deny"  # denials first
    assert predicate["usage"]["calls"] == 2 and predicate["usage"]["cost"] == 0.75
    assert [e["seq"] for e in predicate["log"]["events"]] == list(range(8))
    assert predicate["run"]["events"] == 8


# ---- checking -----------------------------------------------------------------------------
def test_a_good_attestation_verifies(signed: dict[str, Any]) -> None:
    result = check(signed)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["ok"] is True and document["signer"] == "ada@example.com"
    assert [s["ok"] for s in document["subjects"]] == [True, True, True]
    text = invoke(signed["root"], "attest", "--verify", str(signed["envelope"]),
                  "--allowed-signers", str(signed["allowed"]))
    assert text.exit_code == 0 and text.output.startswith("ok: signed by ada@example.com")


def test_a_tampered_statement_is_refused(signed: dict[str, Any], tmp_path: Path) -> None:
    envelope = read_envelope(signed["envelope"])
    statement = payload_of(envelope)
    statement["predicate"]["decisions"][0]["verdict"] = "allow"  # hide the denial
    envelope["payload"] = base64.b64encode(rfc8785.dumps(statement)).decode()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(envelope))
    result = check(signed, tampered)
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["ok"] is False and document["signer"] is None
    assert "bad signature" in document["problems"][0]


def test_a_wrong_key_is_refused(signed: dict[str, Any]) -> None:
    other = make_key(signed["keys"], "mallory")
    # The same principal, another key: the signing key is not an allowed one.
    wrong = allowed_signers(signed["keys"] / "wrong_signers", "ada@example.com", other)
    result = check(signed, allowed=wrong)
    assert result.exit_code == 1
    assert "not signed by an allowed signer" in json.loads(result.output)["problems"][0]
    # And a statement signed with the other key is refused by the right file.
    use_signing_key(signed["root"], other)
    forged = signed["keys"] / "forged.json"
    assert invoke(signed["root"], "attest", RUN, "-o", str(forged)).exit_code == 0
    assert check(signed, forged).exit_code == 1


def test_a_namespace_the_allowed_signers_file_does_not_grant_is_refused(signed: dict[str, Any]) -> None:
    public = (signed["keys"] / "ada.pub").read_text().strip()
    only_git = signed["keys"] / "only_git"
    only_git.write_text(f'ada@example.com namespaces="git" {public}\n')
    assert check(signed, allowed=only_git).exit_code == 1


def test_a_changed_event_is_refused_and_named(signed: dict[str, Any]) -> None:
    root = signed["root"]
    blob = git(root, "cat-file", "blob", f"{layout.run_ref('default', RUN)}:{layout.event_path(RUN, 2)}")
    event = json.loads(blob)
    event["decision"]["decision"] = "allow"
    forge(root, layout.run_ref("default", RUN), layout.event_path(RUN, 2), rfc8785.dumps(event))
    result = check(signed)
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["signer"] == "ada@example.com"  # the signature is fine; the log is not
    (problem,) = document["problems"]
    assert f"mv2://default/runs/{RUN}" in problem and "seq 2 (RouteDecision" in problem
    text = invoke(root, "attest", "--verify", str(signed["envelope"]), "--allowed-signers", str(signed["allowed"]))
    assert text.exit_code == 1 and "changed event(s): seq 2" in text.output


def test_a_changed_snapshot_is_refused(signed: dict[str, Any]) -> None:
    root = signed["root"]
    subjects = payload_of(read_envelope(signed["envelope"]))["subject"]
    policy_id = subjects[1]["name"].rsplit("/", 1)[1]
    path = layout.snapshot_path(policy_id)
    data = git(root, "cat-file", "blob", f"{layout.policy_ref('default')}:{path}").encode()
    forge(root, layout.policy_ref("default"), path, data.replace(b'"plan":8000', b'"plan":9000'))
    result = check(signed)
    assert result.exit_code == 1
    assert subjects[1]["name"] in json.loads(result.output)["problems"][0]


def test_events_appended_later_are_outside_the_attestation(signed: dict[str, Any]) -> None:
    runs.open_run(signed["root"], RUN).checkpoint("after the attestation")
    result = check(signed)
    assert result.exit_code == 0, result.output
    assert "1 event(s) appended after the attestation" in json.loads(result.output)["notes"][0]


# ---- keys and usage errors ---------------------------------------------------------------
def test_signing_needs_an_ssh_signing_key(policy_repo: Path) -> None:
    runs.start_run(policy_repo, "r")
    result = invoke(policy_repo, "attest", "r")
    assert result.exit_code == 2 and "gpg.format" in result.output
    git(policy_repo, "config", "gpg.format", "ssh")
    result = invoke(policy_repo, "attest", "r")
    assert result.exit_code == 2 and "no SSH signing key" in result.output
    git(policy_repo, "config", "user.signingkey", "/nonexistent/key")
    assert "no such key file" in invoke(policy_repo, "attest", "r").output


def test_usage_errors(signed: dict[str, Any], tmp_path: Path) -> None:
    root = signed["root"]
    assert invoke(root, "attest").exit_code == 2
    both = invoke(root, "attest", RUN, "--verify", str(signed["envelope"]))
    assert both.exit_code == 2 and "takes no RUN" in both.output
    assert invoke(root, "attest", "no-such-run").exit_code == 2
    junk = tmp_path / "junk"
    junk.write_text("not json")
    result = invoke(root, "attest", "--verify", str(junk), "--allowed-signers", str(signed["allowed"]))
    assert result.exit_code == 2 and "not a JSON DSSE envelope" in result.output
    no_file = invoke(root, "attest", "--verify", str(signed["envelope"]))
    assert no_file.exit_code == 2 and "allowed signers" in no_file.output
    # git's own setting is the default, as for git verify-commit.
    git(root, "config", "gpg.ssh.allowedSignersFile", str(signed["allowed"]))
    assert invoke(root, "attest", "--verify", str(signed["envelope"])).exit_code == 0


def test_stdout_gets_the_envelope_without_output(signed: dict[str, Any]) -> None:
    result = invoke(signed["root"], "attest", RUN)
    assert result.exit_code == 0
    assert Envelope.from_dict(json.loads(result.output)).payload_type == attestation.PAYLOAD_TYPE


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An ssh-agent of this test's own, stopped (by its pid) afterwards."""
    out = subprocess.run(["ssh-agent", "-s", "-a", str(tmp_path / "agent.sock")],
                         capture_output=True, text=True, check=True).stdout
    found = dict(part.split("=", 1) for part in out.replace(";", "\n").split() if "=" in part)
    monkeypatch.setenv("SSH_AUTH_SOCK", found["SSH_AUTH_SOCK"])
    pid = int(found["SSH_AGENT_PID"])
    try:
        yield
    finally:
        os.kill(pid, signal.SIGTERM)


@pytest.mark.parametrize("how", ["literal", "default-key-command"])
def test_a_key_held_by_ssh_agent_signs(agent: Any, audited: Path, tmp_path: Path, how: str) -> None:
    root = audited
    key = make_key(tmp_path, "agent-key")
    subprocess.run(["ssh-add", "-q", str(key)], check=True, capture_output=True)
    key.unlink()  # only the agent holds the private half now
    public = key.with_suffix(".pub").read_text().strip()
    git(root, "config", "gpg.format", "ssh")
    if how == "literal":
        git(root, "config", "user.signingkey", f"key::{public}")
    else:
        git(root, "config", "gpg.ssh.defaultKeyCommand", f"echo 'key::{public}'")
    out = tmp_path / "env.json"
    result = invoke(root, "attest", RUN, "-o", str(out))
    assert result.exit_code == 0, result.output
    allowed = allowed_signers(tmp_path / "allowed", "ada@example.com", key)
    verified = invoke(root, "attest", "--verify", str(out), "--allowed-signers", str(allowed), "--json")
    assert json.loads(verified.output)["ok"] is True


def test_the_sshsig_parser_refuses_what_is_not_a_signature() -> None:
    with pytest.raises(sshsig.SignatureInvalid):
        sshsig.parse(b"not a signature")
    with pytest.raises(sshsig.SignatureInvalid):
        sshsig.parse(b"SSHSIG\x00\x00\x00\x01\x00\x00\x01\x00")
    with pytest.raises(sshsig.SignatureInvalid):
        sshsig.dearmor("-----BEGIN SSH SIGNATURE-----\n!!\n-----END SSH SIGNATURE-----")


def test_library_attest_and_verify(signed: dict[str, Any]) -> None:
    repo = GitRepo.discover(signed["root"])
    envelope = attestation.attest(repo, RUN)
    result = attestation.verify_envelope(repo, json.dumps(envelope).encode(), signed["allowed"])
    assert result.ok and result.run_id == RUN and result.key == envelope["signatures"][0]["keyid"]
