"""``doctor``: prove that the set-up works, check by check, each with its fix."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speckit_git_policy import __version__
from speckit_git_policy.adoption import BACKFILL_HINT, history_gaps
from speckit_git_policy.capture import MISSED_CAPTURE_SCAN
from speckit_git_policy.errors import BadInput, GitError, SpeckitError
from speckit_git_policy.git.repo import TEAM_SETTINGS_FILE, GitRepo
from speckit_git_policy.hooks.install import HOOK_NAMES, hooks_dir, installed_hook, recorded_python


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


# ---- doctor -----------------------------------------------------------------------------
def _check_hooks(repo: GitRepo, directory: Path) -> Check:
    missing, foreign, not_executable = [], [], []
    for hook in HOOK_NAMES:
        path = directory / hook
        ours = installed_hook(path)
        if not os.path.lexists(path):
            missing.append(hook)
        elif ours is None:
            foreign.append(hook)
        elif not os.access(path, os.X_OK) or not os.access(ours, os.X_OK):
            not_executable.append(hook)
    problems = []
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if foreign:
        problems.append(f"not ours: {', '.join(foreign)}")
    if not_executable:
        problems.append(f"not executable: {', '.join(not_executable)}")
    if problems:
        return Check(
            "hooks", False, f"{directory}: {'; '.join(problems)}; fix: git speckit-policy install"
        )
    return Check("hooks", True, f"{len(HOOK_NAMES)} hooks installed and executable in {directory}")


def _installed_pythons(directory: Path) -> list[str]:
    found = []
    for hook in HOOK_NAMES:
        ours = installed_hook(directory / hook)
        python = recorded_python(ours) if ours is not None else None
        if python and python not in found:
            found.append(python)
    return found


def _check_interpreter(pythons: list[str]) -> Check:
    if not pythons:
        return Check(
            "interpreter",
            False,
            "no installed hook records an interpreter; fix: git speckit-policy install",
        )
    gone = [p for p in pythons if not os.access(p, os.X_OK)]
    if gone:
        return Check(
            "interpreter",
            False,
            f"recorded interpreter missing: {', '.join(gone)}; fix: "
            "reinstall speckit-git-policy, then git speckit-policy install",
        )
    return Check("interpreter", True, ", ".join(pythons))


def _check_tool(pythons: list[str]) -> Check:
    """Import the tool the way the hook does: the recorded interpreter, a short PATH."""
    if not pythons:
        return Check("tool", False, "no hook interpreter to try; fix: git speckit-policy install")
    python = pythons[0]
    if not os.access(python, os.X_OK):
        return Check("tool", False, f"{python} is missing")
    env = dict(os.environ, PATH="/usr/bin:/bin")
    code = "import speckit_git_policy as s, speckit_git_policy.hooks.runner; print(s.__version__)"
    try:
        result = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return Check("tool", False, f"{python} cannot run: {e}")
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["exit status " + str(result.returncode)])[-1]
        return Check(
            "tool",
            False,
            f"{python} cannot import speckit_git_policy ({last}); fix: "
            f"{python} -m pip install speckit-git-policy, then git speckit-policy install",
        )
    version = result.stdout.strip()
    detail = f"speckit-git-policy {version} importable by {python}"
    if version != __version__:
        detail += (
            f" (this command is {__version__}: run git speckit-policy install to update the hooks)"
        )
    return Check("tool", True, detail)


def _check_refspecs(repo: GitRepo) -> Check:
    """Every remote fetches the capsule into its own tracking namespace,
    ``+refs/speckit/*:refs/speckit-remotes/<remote>/*``, so that plain ``git fetch`` and
    ``git pull`` bring it (merged by the next command or hook, through the door) and
    never fail on it. A fetch refspec into ``refs/speckit/`` itself is flagged: it
    bypasses the door, and plain ``git pull`` fails once two clones have appended. No
    push refspec is asked for: a configured one replaces git's default push; the
    pre-push hook pushes the capsule along with a branch (``speckit.autoPush``)."""
    from speckit_git_policy.store.capsule.sync import tracking_refspec, writes_local_capsule

    if not repo.config_bool("speckit.capsule", True):
        return Check("capsule refspecs", True, "capsule disabled (speckit.capsule=false)")
    remotes = repo.remotes()
    if not remotes:
        return Check("capsule refspecs", True, "no remotes")
    missing, into_capsule = [], []
    for remote in remotes:
        values = (
            repo.git("config", "--get-all", f"remote.{remote}.fetch", check=False).decode().split()
        )
        if tracking_refspec(remote) not in values:
            missing.append(remote)
        if any(writes_local_capsule(value) for value in values):
            into_capsule.append(remote)
    problems, fixes = [], []
    if missing:
        problems.append(f"remote(s) {', '.join(missing)} do not fetch the capsule")
        fixes += [f"git config --add remote.{r}.fetch '{tracking_refspec(r)}'" for r in missing]
    if into_capsule:
        problems.append(
            f"remote(s) {', '.join(into_capsule)} fetch straight into refs/speckit/ "
            "(bypasses the checks of what a remote sends; plain git pull fails once two "
            "clones have appended)"
        )
        fixes += [
            f"git config --unset-all remote.{r}.fetch '^\\+?refs/speckit/\\*:refs/speckit/'"
            for r in into_capsule
        ]
    if problems:
        return Check(
            "capsule refspecs",
            False,
            f"{'; '.join(problems)}; fix: git speckit-policy install (or: {'; '.join(fixes)})",
        )
    auto = repo.config_bool("speckit.autoPush", True)
    pushed = (
        "pushed along with branches (pre-push)" if auto else "push it with git speckit-policy push"
    )
    return Check(
        "capsule refspecs",
        True,
        f"the capsule is fetched from {', '.join(remotes)} into refs/speckit-remotes/; {pushed}",
    )


def _check_missed(repo: GitRepo) -> Check:
    try:
        gaps = history_gaps(repo)
    except (GitError, BadInput) as e:
        return Check("missed captures", False, str(e))
    missed = gaps.missed
    if not missed:
        detail = f"every recent commit that changed the policy has a snapshot (last {MISSED_CAPTURE_SCAN} checked)"
        if gaps.pre_adoption and gaps.adoption is not None:
            detail = (
                f"every commit since the adoption point ({gaps.adoption[:12]}) that changed the "
                f"policy has a snapshot; {len(gaps.pre_adoption)} older commit(s) from before "
                f"adoption have none: {BACKFILL_HINT} captures them"
            )
        if gaps.uncapturable:
            detail += (
                f"; {len(gaps.uncapturable)} commit(s) changed it into sources that cannot be "
                f"compiled ({', '.join(sha[:12] for sha, _ in gaps.uncapturable[:3])}): "
                "nothing to capture"
            )
        return Check("missed captures", True, detail)
    from speckit_git_policy.capture import make_up_command

    shown = ", ".join(sha[:12] for sha in missed[:5]) + (" …" if len(missed) > 5 else "")
    fix = "; ".join(
        make_up_command(repo, sha) or f"git speckit-policy capture --commit {sha[:12]}"
        for sha in missed[:3]
    )
    if len(missed) > 1:
        fix += f" (or all of them at once: {BACKFILL_HINT})"
    return Check(
        "missed captures",
        False,
        f"{len(missed)} commit(s) changed the policy but have no snapshot: {shown}; fix: {fix}",
    )


def _check_capsule(repo: GitRepo) -> Check:
    """Capsule refs git and the tool can read and write: no stale lock, no ref that is
    garbage, symbolic or dangling (each named, with the fix)."""
    from speckit_git_policy.store.capsule.layout import NAMESPACE
    from speckit_git_policy.store.capsule.objects import ref_problems

    problems = ref_problems(repo, NAMESPACE)
    if problems:
        return Check("capsule", False, "; ".join(str(problem) for problem in problems))
    return Check("capsule", True, f"every ref under {NAMESPACE}/ names a commit; no stale lock")


# ---- settings and where they come from ---------------------------------------------------
@dataclass(frozen=True)
class Setting:
    key: str  # as documented: speckit.policyFile
    value: str
    origin: str  # .speckitconfig, "local config (.git/config)", ..., default

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "origin": self.origin}


def _defaults() -> dict[str, str]:
    from speckit_git_policy.policy.sources import DEFAULT_DOC_FILE, DEFAULT_POLICY_FILE
    from speckit_git_policy.store.capsule.layout import DEFAULT_WORKSPACE

    return {
        "speckit.workspace": DEFAULT_WORKSPACE,
        "speckit.policyFile": DEFAULT_POLICY_FILE,
        "speckit.docFile": DEFAULT_DOC_FILE,
        "speckit.capsule": "true",
        "speckit.autoPush": "true",
        "speckit.sign": "false",
        "speckit.requireSigned": "false",
    }


def settings(repo: GitRepo) -> list[Setting]:
    """Every team setting in force, with where its value comes from (BadInput when the
    committed ``.speckitconfig`` cannot be read or holds a value its key refuses)."""
    origins = repo.setting_origins()
    found = []
    for key, default in _defaults().items():
        value, origin = origins.get(key.lower(), (default, "default"))
        if value is None:
            value = "true"  # a bare key, as git reads it
        elif not value.strip():
            value, origin = default, f"default (empty in {origin})"
        found.append(Setting(key, value, origin))
    return found


def _check_settings(repo: GitRepo) -> Check:
    from speckit_git_policy.ids import check_workspace
    from speckit_git_policy.policy.sources import source_paths

    try:
        found = settings(repo)
        check_workspace(repo.config_get("speckit.workspace") or "default")
        source_paths(repo)
    except BadInput as e:
        return Check("settings", False, f"{e}; fix the value where it is set")
    committed = [s.key for s in found if s.origin.startswith((TEAM_SETTINGS_FILE, "HEAD:"))]
    local = [s.key for s in found if s.origin != "default" and s.key not in committed]
    parts = []
    if committed:
        parts.append(f"{len(committed)} from {TEAM_SETTINGS_FILE} ({', '.join(committed)})")
    if local:
        parts.append(f"{len(local)} from git config ({', '.join(local)})")
    parts.append(f"{len(found) - len(committed) - len(local)} default")
    return Check("settings", True, "; ".join(parts))


def _check_speckit(root: Path) -> Check:
    """A Spec Kit project's wiring: the policy extension registered, its hooks and runtime
    event pointing at a stage script that exists, and the tool that script runs on PATH."""
    import json
    import shutil

    fix = "fix: git speckit-policy speckit install"
    extension = root / ".specify" / "extensions" / "policy"
    try:
        registry = json.loads((root / ".specify" / "extensions" / ".registry").read_text())
        entry = registry.get("extensions", {}).get("policy")
    except (OSError, ValueError, AttributeError):
        entry = None
    if not isinstance(entry, dict) or not (extension / "extension.yml").is_file():
        return Check("speckit", False, f"the policy extension is not registered; {fix}")
    if entry.get("enabled") is False:
        return Check(
            "speckit",
            False,
            "the policy extension is disabled; fix: specify extension enable policy",
        )
    problems = []
    script = extension / "scripts" / "bash" / "policy-stage.sh"
    if not os.access(script, os.X_OK):
        problems.append(f"{script.relative_to(root)} is missing or not executable")
    try:
        hooks = (root / ".specify" / "extensions.yml").read_text()
    except OSError:
        hooks = ""
    if hooks.count("speckit.policy.stage") < 5:
        problems.append(".specify/extensions.yml does not list the five policy hooks")
    tool = os.environ.get("SPECKIT_POLICY_TOOL", "git-speckit-policy")
    found = shutil.which(tool)
    if problems:
        return Check("speckit", False, f"{'; '.join(problems)}; {fix}")
    if found is None:
        return Check(
            "speckit",
            False,
            f"{tool} is not on PATH, and the stage script runs it (so the agent's shell needs "
            "it too); fix: put its directory on PATH, or set SPECKIT_POLICY_TOOL to it",
        )
    return Check(
        "speckit",
        True,
        f"policy extension registered (v{entry.get('version')}), hooks and session_start "
        f"event run {script.relative_to(root)}, which runs {found}",
    )


def doctor(repo: GitRepo) -> list[Check]:
    directory = hooks_dir(repo)
    pythons = _installed_pythons(directory)
    checks: list[tuple[str, Callable[[], Check]]] = [
        ("hooks", lambda: _check_hooks(repo, directory)),
        ("interpreter", lambda: _check_interpreter(pythons)),
        ("tool", lambda: _check_tool(pythons)),
        ("capsule refspecs", lambda: _check_refspecs(repo)),
        ("capsule", lambda: _check_capsule(repo)),
        ("missed captures", lambda: _check_missed(repo)),
        ("settings", lambda: _check_settings(repo)),
    ]
    if repo.work_tree is not None and os.path.isdir(os.path.join(repo.work_tree, ".specify")):
        work_tree = Path(repo.work_tree)
        checks.append(("speckit", lambda: _check_speckit(work_tree)))
    results = []
    for name, check in checks:
        try:
            results.append(check())
        except SpeckitError as e:  # a broken .speckitconfig, say: the other checks still run
            results.append(Check(name, False, str(e)))
    return results
