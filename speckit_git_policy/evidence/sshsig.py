"""Signing and checking with the user's git SSH signing key, through ``ssh-keygen -Y``
(the only process that signs; docs/DESIGN.md §8).

The key is found as ``git commit -S`` finds it when ``gpg.format=ssh``:

* ``user.signingkey`` is a path to a private key, or to a public key whose private half
  is in ssh-agent (``~`` expanded; a relative path is taken from the work tree's top,
  where git runs); or a literal public key, ``key::ssh-ed25519 AAAA…`` (or, as git still
  accepts, ``ssh-ed25519 AAAA…``), whose private half must be in ssh-agent;
* without ``user.signingkey``, ``gpg.ssh.defaultKeyCommand`` is run (through the shell,
  as git runs it) and the first line of its output, ``key::…``, is used;
* ``gpg.ssh.program`` replaces ``ssh-keygen``.

Not handled: keys held by a FIDO token that needs touching without a terminal (ssh-keygen
asks on the terminal, as it does for git), and X.509 or OpenPGP signing formats.

A signature is an SSHSIG blob (the binary inside ssh-keygen's armour): it carries the
public key, the namespace, the hash algorithm and the signature, so it is stored without
its armour and re-armoured to be checked.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from speckit_git_policy.errors import BadInput, CheckFailed
from speckit_git_policy.git.repo import GitRepo

NAMESPACE = "speckit-git-policy"
ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
ARMOR_END = "-----END SSH SIGNATURE-----"
MAGIC = b"SSHSIG"

_HOW_TO_CONFIGURE = (
    "git config gpg.format ssh && git config user.signingkey ~/.ssh/id_ed25519.pub "
    "(the key git signs commits with)"
)


class SigningUnavailable(BadInput):
    """No SSH signing key is configured, or ssh-keygen cannot be run."""


class SignatureInvalid(CheckFailed):
    """A signature that does not check out: wrong key, wrong data, unknown signer."""


@dataclass(frozen=True)
class SigningKey:
    """Where ``ssh-keygen -f`` finds the key, and whether its private half is in the agent
    only (a literal public key)."""

    key: str  # a path, or the literal public key
    literal: bool
    program: str


def signing_key(repo: GitRepo) -> SigningKey:
    """The key git signs with (see the module's docstring); SigningUnavailable otherwise."""
    fmt = repo.config_get("gpg.format")
    if fmt != "ssh":
        raise SigningUnavailable(
            f"attest signs with your git SSH signing key, but gpg.format is "
            f"{fmt or 'unset (openpgp)'}: {_HOW_TO_CONFIGURE}"
        )
    program = repo.config_get("gpg.ssh.program") or "ssh-keygen"
    configured = repo.config_get("user.signingkey")
    if not configured:
        configured = _default_key(repo)
    if configured.startswith("key::"):
        return SigningKey(configured.removeprefix("key::").strip(), True, program)
    if configured.startswith("ssh-"):
        return SigningKey(configured.strip(), True, program)
    path = Path(os.path.expanduser(configured))
    if not path.is_absolute():
        path = repo.root / path
    if not path.is_file():
        raise SigningUnavailable(f"user.signingkey {configured!r}: no such key file ({path})")
    return SigningKey(str(path), False, program)


def _default_key(repo: GitRepo) -> str:
    command = repo.config_get("gpg.ssh.defaultKeyCommand")
    if not command:
        raise SigningUnavailable(f"no SSH signing key is configured: {_HOW_TO_CONFIGURE}")
    try:
        result = subprocess.run(
            command, shell=True, capture_output=True, text=True, cwd=repo.root, check=False
        )
    except OSError as e:
        raise SigningUnavailable(f"gpg.ssh.defaultKeyCommand failed: {e}") from e
    first = result.stdout.splitlines()[0].strip() if result.stdout.strip() else ""
    if result.returncode != 0 or not first.startswith(("key::", "ssh-")):
        raise SigningUnavailable(
            f"gpg.ssh.defaultKeyCommand {command!r} gave no key (exit {result.returncode}); "
            f"set user.signingkey instead"
        )
    return first


def _run(argv: list[str], data: bytes | None, what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(argv, input=data, capture_output=True, check=False)
    except OSError as e:
        raise SigningUnavailable(f"cannot run {argv[0]} to {what}: {e}") from e


def _last_line(output: bytes) -> str:
    lines = output.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else ""


def sign(key: SigningKey, data: bytes) -> bytes:
    """The SSHSIG blob of ``data`` under our namespace."""
    with tempfile.TemporaryDirectory(prefix="speckit-sign-") as scratch:
        key_file = key.key
        argv = [key.program, "-Y", "sign", "-n", NAMESPACE]
        if key.literal:
            # As git does: the literal public key in a file, the private half in the agent.
            key_file = os.path.join(scratch, "key.pub")
            Path(key_file).write_text(key.key + "\n", encoding="utf-8")
            argv.append("-U")
        argv += ["-f", key_file]
        result = _run(argv, data, "sign")
    if result.returncode != 0:
        raise SigningUnavailable(
            f"{key.program} -Y sign failed: {_last_line(result.stderr) or f'exit {result.returncode}'}"
        )
    return dearmor(result.stdout.decode("ascii", "replace"))


def dearmor(text: str) -> bytes:
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END:
        raise SignatureInvalid("the signature is not an armoured SSH signature")
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError as e:
        raise SignatureInvalid("the signature's armour does not decode") from e
    parse(blob)
    return blob


def armor(blob: bytes) -> str:
    body = base64.b64encode(blob).decode("ascii")
    lines = [body[i : i + 70] for i in range(0, len(body), 70)]
    return "\n".join([ARMOR_BEGIN, *lines, ARMOR_END]) + "\n"


@dataclass(frozen=True)
class SignatureInfo:
    public_key: bytes  # the SSH wire encoding of the signer's public key
    namespace: str
    hash_algorithm: str

    @property
    def fingerprint(self) -> str:
        """``SHA256:…``, as ``ssh-keygen -l`` prints it."""
        digest = base64.b64encode(hashlib.sha256(self.public_key).digest()).decode("ascii")
        return "SHA256:" + digest.rstrip("=")


def parse(blob: bytes) -> SignatureInfo:
    """The fields of an SSHSIG blob (OpenSSH's PROTOCOL.sshsig); SignatureInvalid when it
    is not one."""
    if not blob.startswith(MAGIC):
        raise SignatureInvalid("the signature is not an SSHSIG signature")
    position = len(MAGIC) + 4  # the magic, then a uint32 version

    def string() -> bytes:
        nonlocal position
        if position + 4 > len(blob):
            raise SignatureInvalid("the SSH signature is truncated")
        size = int.from_bytes(blob[position : position + 4], "big")
        start, position = position + 4, position + 4 + size
        if position > len(blob):
            raise SignatureInvalid("the SSH signature is truncated")
        return blob[start:position]

    if int.from_bytes(blob[len(MAGIC) : position], "big") != 1:
        raise SignatureInvalid("the SSH signature has an unknown version")
    public_key, namespace, _reserved, hash_algorithm, _signature = (string() for _ in range(5))
    return SignatureInfo(
        public_key, namespace.decode("utf-8", "replace"), hash_algorithm.decode("ascii", "replace")
    )


def allowed_signers_file(repo: GitRepo, given: str | None) -> Path:
    """``--allowed-signers``, else git's ``gpg.ssh.allowedSignersFile``."""
    configured = given or repo.config_get("gpg.ssh.allowedSignersFile")
    if not configured:
        raise BadInput(
            "no allowed signers file: pass --allowed-signers FILE "
            "or git config gpg.ssh.allowedSignersFile FILE"
        )
    path = Path(os.path.expanduser(configured))
    if not path.is_file():
        raise BadInput(f"allowed signers file {configured!r} does not exist")
    return path


def verify(repo: GitRepo, blob: bytes, data: bytes, allowed_signers: Path) -> tuple[str, str]:
    """(principal, key fingerprint) when ``blob`` is a good signature of ``data`` under our
    namespace by a key ``allowed_signers`` names; SignatureInvalid otherwise.

    As ``git verify-commit`` does: the principals the file gives the signing key are
    found first (``-Y find-principals``), then each is tried with ``-Y verify``.
    """
    info = parse(blob)
    if info.namespace != NAMESPACE:
        raise SignatureInvalid(
            f"the signature is for namespace {info.namespace!r}, not {NAMESPACE!r}"
        )
    program = repo.config_get("gpg.ssh.program") or "ssh-keygen"
    with tempfile.TemporaryDirectory(prefix="speckit-verify-") as scratch:
        signature = os.path.join(scratch, "statement.sig")
        Path(signature).write_text(armor(blob), encoding="ascii")
        found = _run(
            [program, "-Y", "find-principals", "-s", signature, "-f", str(allowed_signers)],
            None,
            "find the signer",
        )
        principals = (
            found.stdout.decode("utf-8", "replace").split() if found.returncode == 0 else []
        )
        if not principals:
            raise SignatureInvalid(
                f"the signing key {info.fingerprint} is not in {allowed_signers} "
                f"(for namespace {NAMESPACE!r}): not signed by an allowed signer"
            )
        failure = ""
        for principal in principals:
            result = _run(
                [
                    program,
                    "-Y",
                    "verify",
                    "-n",
                    NAMESPACE,
                    "-I",
                    principal,
                    "-f",
                    str(allowed_signers),
                    "-s",
                    signature,
                ],
                data,
                "check the signature",
            )
            if result.returncode == 0:
                return principal, info.fingerprint
            failure = _last_line(result.stderr) or _last_line(result.stdout)
    raise SignatureInvalid(
        f"bad signature by key {info.fingerprint} ({', '.join(principals)}): "
        f"{failure or 'ssh-keygen refused it'}"
    )
