"""``speckit install``/``uninstall``: put the shipped extension, preset and workflow into a
Spec Kit project through Spec Kit's own commands (``specify extension add --dev``,
``specify preset add --dev``, ``specify workflow add``), offline.

Spec Kit then writes what each agent integration needs (skills, prompts, TOML commands,
its runtime-event settings such as Claude Code's ``.claude/settings.json``): this module
never writes an agent's files itself, so it works for every integration Spec Kit knows.
Installing is idempotent: a part whose installed files equal the shipped ones is left as
it is.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TypedDict

from speckit_git_policy.errors import BadInput, SpeckitError

BUNDLE = Path(__file__).resolve().parent / "bundle"
EXTENSION_ID = "policy"
PRESET_ID = "policy"
WORKFLOW_ID = "speckit-policy"
INTEGRATION_PLACEHOLDER = "__SPECKIT_POLICY_INTEGRATION__"
SPECIFY_ENV = "SPECKIT_SPECIFY"
TIMEOUT = 300


class SpecifyFailed(SpeckitError):
    """A ``specify`` command failed: the environment's tool, not the user's input."""

    exit_code = 3

    def __init__(self, command: list[str], detail: str) -> None:
        self.command = command
        self.detail = detail
        super().__init__(f"{shlex.join(command)} failed: {detail}")


class InstallResult(TypedDict):
    root: str
    integration: str
    integrations: list[str]
    changed: list[str]  # the parts installed or updated now
    unchanged: list[str]


def specify_command(environ: dict[str, str] | None = None) -> list[str]:
    """How to run Spec Kit's CLI: ``$SPECKIT_SPECIFY``, else ``specify`` on PATH, else the
    ``specify_cli`` package this interpreter can import."""
    environ = dict(os.environ) if environ is None else environ
    given = environ.get(SPECIFY_ENV, "").strip()
    if given:
        return shlex.split(given)
    found = shutil.which("specify", path=environ.get("PATH"))
    if found:
        return [found]
    import importlib.util

    if importlib.util.find_spec("specify_cli") is not None:
        return [sys.executable, "-c", "import sys, specify_cli; sys.exit(specify_cli.main())"]
    raise BadInput(
        "Spec Kit's specify command was not found: install it (pip install specify-cli) "
        f"or set {SPECIFY_ENV} to the command"
    )


def _run_specify(root: Path, *args: str) -> str:
    command = [*specify_command(), *args]
    env = dict(os.environ, NO_COLOR="1", TERM="dumb", COLUMNS="200")
    try:
        result = subprocess.run(
            command,
            cwd=root,
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SpecifyFailed(command, str(e)) from e
    if result.returncode != 0:
        lines = [line.strip(" │╭╮╰╯─") for line in (result.stderr + result.stdout).splitlines()]
        detail = next((line for line in reversed(lines) if line.strip()), "")
        raise SpecifyFailed(command, detail or f"exit status {result.returncode}")
    return result.stdout


def check_project(root: Path) -> dict[str, object]:
    """The project's Spec Kit state (``.specify/integration.json``); BadInput when ``root``
    is not a Spec Kit project."""
    state = root / ".specify" / "integration.json"
    if not (root / ".specify").is_dir():
        raise BadInput(
            f"{root}: not a Spec Kit project (no .specify/); run: specify init --here first"
        )
    try:
        data = json.loads(state.read_text(encoding="utf-8")) if state.is_file() else {}
    except (OSError, ValueError) as e:
        raise BadInput(f"{state}: cannot be read ({e})") from e
    return data if isinstance(data, dict) else {}


def installed_integrations(state: dict[str, object]) -> list[str]:
    names = state.get("installed_integrations")
    if isinstance(names, list):
        return [str(name) for name in names]
    single = state.get("integration")
    return [str(single)] if isinstance(single, str) else []


def _same_tree(shipped: Path, installed: Path) -> bool:
    """Every shipped file is installed with the same bytes."""
    for path in shipped.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            copy = installed / path.relative_to(shipped)
            if not copy.is_file() or copy.read_bytes() != path.read_bytes():
                return False
    return True


def _workflow_text(integration: str) -> str:
    text = (BUNDLE / "workflow" / "workflow.yml").read_text(encoding="utf-8")
    return text.replace(INTEGRATION_PLACEHOLDER, integration)


def install(root: Path, integration: str | None = None) -> InstallResult:
    """Install (or bring up to date) the extension, the preset and the workflow."""
    state = check_project(root)
    names = installed_integrations(state)
    if integration is not None and integration not in names:
        raise BadInput(
            f"integration {integration!r} is not installed in this project (it has "
            f"{', '.join(names) or 'none'}); run: specify integration install {integration}"
        )
    changed, unchanged = [], []
    extension_dir = root / ".specify" / "extensions" / EXTENSION_ID
    if extension_dir.is_dir() and _same_tree(BUNDLE / "extension", extension_dir):
        unchanged.append("extension")
    else:
        _run_specify(root, "extension", "add", "--dev", str(BUNDLE / "extension"), "--force")
        script = extension_dir / "scripts" / "bash" / "policy-stage.sh"
        if script.is_file():  # a wheel's unpacker may have dropped the mode bits
            script.chmod(0o755)
        changed.append("extension")
    preset_dir = root / ".specify" / "presets" / PRESET_ID
    if preset_dir.is_dir() and _same_tree(BUNDLE / "preset", preset_dir):
        unchanged.append("preset")
    else:
        if preset_dir.is_dir():
            _run_specify(root, "preset", "remove", PRESET_ID)
        _run_specify(root, "preset", "add", "--dev", str(BUNDLE / "preset"))
        changed.append("preset")
    text = _workflow_text(integration or "auto")
    workflow_file = root / ".specify" / "workflows" / WORKFLOW_ID / "workflow.yml"
    if workflow_file.is_file() and workflow_file.read_text(encoding="utf-8") == text:
        unchanged.append("workflow")
    else:
        if workflow_file.is_file():
            _run_specify(root, "workflow", "remove", WORKFLOW_ID)
        with tempfile.TemporaryDirectory(prefix="speckit-policy-") as scratch:
            rendered = Path(scratch) / "workflow.yml"
            rendered.write_text(text, encoding="utf-8")
            _run_specify(root, "workflow", "add", str(rendered))
        changed.append("workflow")
    return {
        "root": str(root),
        "integration": integration or "auto",
        "integrations": names,
        "changed": changed,
        "unchanged": unchanged,
    }


def uninstall(root: Path) -> list[str]:
    """Remove what ``install`` put in; the parts removed (none: nothing was installed)."""
    check_project(root)
    removed = []
    if (root / ".specify" / "extensions" / EXTENSION_ID).is_dir():
        _run_specify(root, "extension", "remove", EXTENSION_ID, "--force")
        removed.append("extension")
    if (root / ".specify" / "presets" / PRESET_ID).is_dir():
        _run_specify(root, "preset", "remove", PRESET_ID)
        removed.append("preset")
    if (root / ".specify" / "workflows" / WORKFLOW_ID).is_dir():
        _run_specify(root, "workflow", "remove", WORKFLOW_ID)
        removed.append("workflow")
    return removed
