"""Shared by the evidence tests: a repository whose policy, commits and runs carry hostile
values, SSH keys made with ssh-keygen, a synthetic report of many runs built with the
library, headless Chromium, and a PNG decoder (stdlib zlib) to tell a blank screenshot."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

from conftest import EXAMPLE_POLICY, git, write_policy_sources

from speckit_git_policy import clock, runs
from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.evidence.report import (
    AuditReport,
    PolicyChange,
    VerifyState,
    run_report,
)
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.hooks.install import install

HOSTILE_MODEL = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(2)>'
HOSTILE_SUBJECT = "Route to <marquee>bold</marquee> | `tick` *star* [link](http://x) @team"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def hostile_policy() -> str:
    text = EXAMPLE_POLICY.read_text()
    old = 'implementer = ["claude-sonnet-4-20250514", "gpt-4o"]'
    assert old in text
    return text.replace(
        old, f'implementer = ["claude-sonnet-4-20250514", "{HOSTILE_MODEL}", {HOSTILE_ATTR!r}]'
    )


def append_usage(run: runs.Run, **fields: Any) -> None:
    """A ``UsageRecorded`` event as call-time enforcement records it, through the
    capsule's append (its fields are what the ledger reader must cope with)."""

    def build(seq: int) -> bytes:
        return canonical_bytes(
            {
                "event_id": f"usage-{run.run_id}-{seq}",
                "run_id": run.run_id,
                "seq": seq,
                "timestamp": clock.now(),
                "type": "UsageRecorded",
                **run.governing.ref(),
                "commit": run.commit,
                **fields,
            }
        )

    run.capsule.append_event(run.run_id, build)


def audited_repo(root: Path) -> Path:
    """A repository with hooks, two policy commits (hostile values in the policy and the
    second commit's subject) and one run that crosses the change, with a denial, usage
    and a checkpoint."""
    write_policy_sources(root, hostile_policy())
    install(GitRepo.discover(root))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Add model policy")
    run = runs.start_run(root, "audit-1")
    run.stage("plan")
    run.decision(
        {
            "type": "RouteDecision",
            "policy_id": run.policy_id,
            "role": "implementer",
            "model": HOSTILE_MODEL,
            "decision": "deny",
            "ok": False,
            "reason": f"model {HOSTILE_ATTR} is not allowed",
        }
    )
    run.decision(
        {
            "type": "BudgetDecision",
            "kind": "tokens",
            "policy_id": run.policy_id,
            "stage": "plan",
            "tokens": 100,
            "budget": 8000,
            "decision": "allow",
            "ok": True,
            "reason": "within budget",
        }
    )
    append_usage(
        run,
        stage="plan",
        model_requested="gpt-4o",
        model_served=HOSTILE_ATTR,
        input_tokens=1200,
        output_tokens=300,
        cost=0.75,
    )
    policy = root / "model_policy.toml"
    policy.write_text(policy.read_text().replace("tasks = 4000", "tasks = 5000"))
    git(root, "commit", "-q", "-am", HOSTILE_SUBJECT)
    run.stage("tasks")
    append_usage(
        run, model_requested="gpt-4o", model_served="gpt-4o", input_tokens=5000, output_tokens=1
    )
    run.checkpoint(f"reviewed {HOSTILE_MODEL}")
    return root


# ---- SSH keys --------------------------------------------------------------------------
def make_key(directory: Path, name: str) -> Path:
    """A fresh ed25519 key pair (no passphrase); the private key's path."""
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key


def allowed_signers(path: Path, principal: str, key: Path) -> Path:
    public = (key.parent / (key.name + ".pub")).read_text().strip()
    path.write_text(f"{principal} {public}\n")
    return path


def use_signing_key(root: Path, key: Path) -> None:
    git(root, "config", "gpg.format", "ssh")
    git(root, "config", "user.signingkey", str(key))


# ---- many runs, built with the library ---------------------------------------------------
POLICY_ID = "0f13c636-c878-4c17-af6e-8dc6a570fbaf"
NEXT_POLICY_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
DOCUMENT = {
    "budgets": {
        "tokens": {"specify": 6000, "plan": 8000, "tasks": 4000, "implement": 6000},
        "cost": {"warn_threshold": 5.0, "hard_limit": 25.0},
    }
}


def synthetic_events(index: int) -> list[dict[str, Any]]:
    """A run of ten events: start, four stages (the policy changes at one in ten runs),
    two decisions (one run in seven has a denial) and three usage records."""
    run_id = f"run-{index:05d}"
    day, second = divmod(index, 86400 // 60)
    stamp = f"2030-01-{1 + day % 28:02d}T{(second // 60) % 24:02d}:{second % 60:02d}"
    policy = {"policy_id": POLICY_ID, "policy_uri": f"mv2://default/policy/{POLICY_ID}",
              "policy_hash": "a" * 64, "commit": "c" * 40}
    changed = {"policy_id": NEXT_POLICY_ID, "policy_uri": f"mv2://default/policy/{NEXT_POLICY_ID}",
               "policy_hash": "b" * 64, "commit": "d" * 40}
    events: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> None:
        seq = len(events)
        events.append({"event_id": f"{run_id}-{seq}", "run_id": run_id, "seq": seq,
                       "timestamp": f"{stamp}:{seq:02d}.000000Z", "type": kind, **policy, **fields})

    add("PolicySnapshotRef", created=False)
    previous = None
    for stage in ("specify", "plan", "tasks", "implement"):
        if stage == "tasks" and index % 10 == 0:
            policy = changed
            add("StageTransition", to=stage, **{"from": previous}, policy_changed=True,
                replaced_policy_id=POLICY_ID, replaced_policy_hash="a" * 64)
        else:
            add("StageTransition", to=stage, **{"from": previous}, policy_changed=False)
        previous = stage
        if stage == "plan":
            denied = index % 7 == 0
            add("RouteDecision", decision={"role": "implementer", "model": "gpt-4o",
                                           "decision": "deny" if denied else "allow",
                                           "ok": not denied, "reason": "route"})
            add("UsageRecorded", stage="plan", model_requested="gpt-4o", model_served="gpt-4o",
                input_tokens=1000 + index, output_tokens=200, cost=0.01 * (index % 900))
        if stage == "implement":
            add("UsageRecorded", model_requested="gpt-4o", model_served="gpt-4o",
                input_tokens=3000, output_tokens=900, cost=None)
            if index % 50 == 0:  # a long run: a decision per call, a checkpoint per step
                for call in range(40):
                    add("BudgetDecision", decision={"kind": "tokens", "stage": stage,
                                                    "decision": "deny" if call == 39 else "allow",
                                                    "ok": call != 39, "reason": "budget"})
                    if call % 2:
                        add("Checkpoint", label=f"step {call}", policy_changed=False)
    return events


def synthetic_report(count: int) -> AuditReport:
    documents = {POLICY_ID: DOCUMENT, NEXT_POLICY_ID: DOCUMENT}
    reports = tuple(
        run_report(f"run-{i:05d}", f"mv2://default/runs/run-{i:05d}",
                   synthetic_events(i), documents.get)  # type: ignore[arg-type]
        for i in range(count)
    )
    changes = (
        PolicyChange("d" * 40, NEXT_POLICY_ID, f"mv2://default/policy/{NEXT_POLICY_ID}", "b" * 64,
                     "Bob <bob@example.com>", "2030-01-15T10:00:00+00:00", "Give tasks more",
                     ("budgets.tokens.tasks",), True, "commit"),
        PolicyChange("c" * 40, POLICY_ID, f"mv2://default/policy/{POLICY_ID}", "a" * 64,
                     "Ada <ada@example.com>", "2030-01-01T00:00:00+00:00", "Add model policy",
                     ("budgets.tokens.plan", "routing.cloud.implementer"), True, "adoption"),
    )
    return AuditReport("2030-02-01T00:00:00.000000Z", "0.1.0", "bulk", "default", "d" * 40,
                       "main", None, changes, reports, VerifyState(True, 2, ()), 2)


# ---- the browser -------------------------------------------------------------------------
def chromium(page: Path, profile: Path, *args: str) -> str:
    """Run headless Chromium on a local page; its stdout (the DOM for --dump-dom)."""
    assert CHROMIUM is not None, "chromium is not installed (apt-get install -y chromium)"
    env = dict(os.environ, HOME=str(profile))
    result = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


# ---- PNG (stdlib only) -------------------------------------------------------------------
def _add_lanes(a: int, b: int, low: int, high: int) -> int:
    """Bytewise addition mod 256 of two rows held as big integers (no carry between bytes)."""
    return ((a & low) + (b & low)) ^ ((a ^ b) & high)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of pixel bytes) of an 8-bit RGB or RGBA PNG.

    The "none", "sub" and "up" filters (most rows of a screenshot) are undone on whole
    rows held as big integers; "average" and "paeth" byte by byte."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    low = int.from_bytes(b"\x7f" * stride, "big")
    high = int.from_bytes(b"\x80" * stride, "big")
    everything = (1 << (8 * stride)) - 1
    rows: list[bytes] = []
    previous = bytes(stride)
    offset = 0
    for _ in range(height):
        kind, line = raw[offset], raw[offset + 1 : offset + 1 + stride]
        offset += 1 + stride
        if kind == 0:
            decoded = line
        elif kind == 2:
            value = _add_lanes(int.from_bytes(line, "big"), int.from_bytes(previous, "big"), low, high)
            decoded = value.to_bytes(stride, "big")
        elif kind == 1:
            # A prefix sum along each channel's lane: log2(width) shifted additions.
            value, shift = int.from_bytes(line, "big"), channels
            while shift < stride:
                value = _add_lanes(value, (value >> (8 * shift)) & everything, low, high)
                shift *= 2
            decoded = value.to_bytes(stride, "big")
        else:
            out = bytearray(line)
            for i in range(stride):
                left = out[i - channels] if i >= channels else 0
                up = previous[i]
                if kind == 3:
                    out[i] = (out[i] + (left + up) // 2) & 0xFF
                else:
                    corner = previous[i - channels] if i >= channels else 0
                    estimate = left + up - corner
                    pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                    predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                    out[i] = (out[i] + predictor) & 0xFF
            decoded = bytes(out)
        rows.append(decoded)
        previous = decoded
    return width, height, rows


def distinct_colours(path: Path, step: int = 3) -> int:
    """How many colours a screenshot holds (sampling every ``step``-th pixel and row)."""
    width, _height, rows = png_pixels(path.read_bytes())
    channels = len(rows[0]) // width
    colours = set()
    for row in rows[::step]:
        for x in range(0, width, step):
            colours.add(row[x * channels : x * channels + 3])
    return len(colours)


def forge(root: Path, ref: str, path: str, data: bytes) -> None:
    """Rewrite one file under a capsule ref with plain git, as a forger with push access
    could (a new commit on top of the ref, ``path`` replaced)."""
    tip = git(root, "rev-parse", ref).strip()
    stream = (
        f"commit {ref}\ncommitter Mallory <m@example.com> 1900000000 +0000\ndata 6\nforged\n"
        f"from {tip}\nM 100644 inline {path}\ndata {len(data)}\n"
    ).encode() + data + b"\n\n"
    result = subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=stream,
                            capture_output=True)
    assert result.returncode == 0, result.stderr

