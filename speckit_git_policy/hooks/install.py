"""Install, uninstall and check the git hooks (docs/DESIGN.md §5, §9 ``install``/``uninstall``/``doctor``).

Hooks are written from one template (``templates/hook.sh``, also ``hooks/hook.sh``
in the source tree) that carries a marker line, into the directory git itself
runs hooks from: ``git rev-parse --git-path hooks`` honours ``core.hooksPath``
(a relative one resolves against the work tree, where git runs hooks) and puts
a linked worktree's hooks in the common dir. A foreign hook already there is
moved aside to ``<name>.speckit-legacy``, run first by ours, and put back byte
for byte by ``uninstall``. The interpreter that runs the tool is recorded at
install time, so the hook works under git's short PATH.

This module stays free of pydantic/dulwich/click at import time: the hook runner
and ``verify`` import it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speckit_git_policy import __version__
from speckit_git_policy.errors import BadInput
from speckit_git_policy.fileio import atomic_write
from speckit_git_policy.git.repo import GitRepo

HOOK_NAMES = (
    "pre-commit",
    "post-commit",
    "post-merge",
    "post-rewrite",
    "post-applypatch",
    "pre-push",
)


MARKER = "speckit-git-policy:managed-hook"


LEGACY_SUFFIX = ".speckit-legacy"


_PYTHON_LINE = re.compile(r"^SPECKIT_PYTHON='((?:[^']|'\\'')*)'$", re.MULTILINE)


@dataclass(frozen=True)
class HookChange:
    hook: str
    path: str
    action: str  # installed, updated, unchanged, removed, restored, absent, foreign
    legacy: str | None = None  # the foreign hook kept aside (install) or put back (uninstall)

    def as_json(self) -> dict[str, Any]:
        return {"hook": self.hook, "path": self.path, "action": self.action, "legacy": self.legacy}


# ---- where and what ---------------------------------------------------------------
def hooks_dir(repo: GitRepo) -> Path:
    """The directory git runs hooks from, as git computes it."""
    out = repo.git_text("rev-parse", "--git-path", "hooks").strip()
    path = Path(out)
    if not path.is_absolute():
        # rev-parse answers relative to where it ran; git runs hooks from the same place.
        path = Path(repo.work_tree if repo.work_tree is not None else repo.git_dir) / path
    return path


def template_text() -> str:
    from importlib.resources import files

    return (files("speckit_git_policy") / "templates" / "hook.sh").read_text(encoding="utf-8")


def _sh_quote_inner(value: str) -> str:
    return value.replace("'", "'\\''")


def render_hook(hook: str, python: str, fast_path: str = "") -> str:
    return (
        template_text()
        .replace("@HOOK@", hook)
        .replace("@VERSION@", __version__)
        .replace("@PYTHON@", _sh_quote_inner(python))
        .replace("@PYTHONPATH@", _sh_quote_inner(fast_path))
    )


# The modules a hook imports when a source changed (validate, capture, capsule).
_HOOK_MODULES = (
    "speckit_git_policy.hooks.runner",
    "speckit_git_policy.policy.lint",
    "speckit_git_policy.capture",
    "speckit_git_policy.store.capsule.capsule",
)


_LIST_HOOK_PATHS = """
import importlib, os, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
roots = set()
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if not path or "." in name or name.startswith("_frozen"):
        continue
    path = os.path.abspath(path)
    roots.add(os.path.dirname(os.path.dirname(path)) if path.endswith("__init__.py") else os.path.dirname(path))
print(os.pathsep.join(sorted(roots)))
"""


def fast_start_path(python: str) -> str:
    """The directories that let the hook start ``python -S`` (no site, no .pth files).

    Python's start-up with ``site`` costs about as much again as without it, and a
    policy commit starts Python twice (pre-commit, post-commit). The hook may skip
    ``site`` when the modules it imports are found through an explicit PYTHONPATH;
    this computes that path with the interpreter the hook records, and proves it
    works. An empty string (the normal start) when it cannot.
    """
    try:
        listed = subprocess.run(
            [python, "-c", _LIST_HOOK_PATHS, *_HOOK_MODULES],
            capture_output=True,
            text=True,
            timeout=60,
        )
        no_site = subprocess.run(
            [python, "-S", "-c", "import sys; print(chr(10).join(sys.path))"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if listed.returncode != 0 or no_site.returncode != 0:
        return ""
    builtin = {os.path.abspath(p) for p in no_site.stdout.splitlines() if p}
    extra = [
        p
        for p in listed.stdout.strip().split(os.pathsep)
        if p and os.path.abspath(p) not in builtin
    ]
    path = os.pathsep.join(extra)
    probe = subprocess.run(
        [python, "-S", "-c", "import " + ", ".join(_HOOK_MODULES)],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        timeout=60,
    )
    return path if probe.returncode == 0 else ""


def is_ours(path: Path) -> bool:
    try:
        return MARKER.encode() in path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return False


# The pre-commit framework's `pre-commit install` moves a hook already there to
# `<hook>.legacy` and runs it from its own script: ours, chained behind the framework.
FRAMEWORK_MARKER = b"File generated by pre-commit: https://pre-commit.com"
FRAMEWORK_LEGACY = ".legacy"


def installed_hook(path: Path) -> Path | None:
    """Where our hook for ``path`` is: ``path`` itself, or its ``.legacy`` copy that the
    pre-commit framework's script at ``path`` runs; None when neither is ours."""
    if is_ours(path):
        return path
    legacy = path.with_name(path.name + FRAMEWORK_LEGACY)
    try:
        framework = FRAMEWORK_MARKER in path.read_bytes()
    except OSError:
        framework = False
    return legacy if framework and is_ours(legacy) else None


def recorded_python(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return None
    match = _PYTHON_LINE.search(text)
    return match.group(1).replace("'\\''", "'") if match else None


def _write_executable(path: Path, text: str) -> None:
    """Atomic write (a commit running now sees the old hook or the new one, never half).
    Durable: a hook left empty by a crash would break every commit until reinstalled."""
    atomic_write(path, text.encode("utf-8"), mode=0o755)


def shared_hooks_path(repo: GitRepo) -> tuple[str, str, str] | None:
    """(scope, file, value) when the ``core.hooksPath`` in force comes from the global or
    the system config: a directory every repository of the user (or the machine) runs."""
    out = repo.git(
        "config", "--show-origin", "--show-scope", "--get", "core.hooksPath", check=False
    )
    fields = out.decode("utf-8", "replace").rstrip("\n").split("\t", 2)
    if len(fields) != 3 or fields[0] not in ("global", "system"):
        return None
    scope, origin, value = fields
    return scope, origin.removeprefix("file:"), value


# ---- install / uninstall ------------------------------------------------------------
def install(
    repo: GitRepo, python: str | None = None, *, shared_hooks_path_ok: bool = False
) -> list[HookChange]:
    """Write every hook; idempotent; foreign hooks are kept aside and chained.

    A ``core.hooksPath`` set in the global or system config is refused unless
    ``shared_hooks_path_ok``: hooks written there would run in every repository."""
    python = python or sys.executable
    if not python or not os.path.isabs(python):
        raise BadInput(f"cannot record the Python interpreter ({python!r}): need an absolute path")
    shared = shared_hooks_path(repo)
    if shared is not None and not shared_hooks_path_ok:
        scope, origin, value = shared
        raise BadInput(
            f"core.hooksPath is set in your {scope} git config ({origin}: {value}), so hooks "
            "written there run in every repository that config applies to; nothing was "
            "installed. To install for this repository only: git config core.hooksPath "
            '"$(git rev-parse --git-common-dir)/hooks" (this repository\'s value wins), then '
            "install again; to install into the shared directory on purpose: "
            "git speckit-policy install --shared-hooks-path"
        )
    directory = hooks_dir(repo)
    # Refuse before writing anything: a foreign hook with a legacy copy already aside
    # cannot be moved without losing one of them.
    for hook in HOOK_NAMES:
        path, legacy = directory / hook, directory / (hook + LEGACY_SUFFIX)
        if os.path.lexists(path) and installed_hook(path) is None and os.path.lexists(legacy):
            raise BadInput(
                f"{path} is not ours and {legacy.name} already exists beside it; "
                "merge or remove one of them, then run install again"
            )
    directory.mkdir(parents=True, exist_ok=True)
    fast_path = fast_start_path(python)
    changes = []
    for hook in HOOK_NAMES:
        path, legacy = directory / hook, directory / (hook + LEGACY_SUFFIX)
        text = render_hook(hook, python, fast_path)
        ours = installed_hook(path)
        if ours is not None and ours != path:
            # Behind the pre-commit framework's script: updated where the framework runs it.
            same = ours.read_text(encoding="utf-8", errors="replace") == text
            if not same:
                _write_executable(ours, text)
            kept = str(legacy) if os.path.lexists(legacy) else None
            changes.append(HookChange(hook, str(ours), "unchanged" if same else "updated", kept))
            continue
        kept = None
        if os.path.lexists(path) and not is_ours(path):
            os.rename(path, legacy)  # rename keeps bytes, mode and symlinks exactly
            kept = str(legacy)
        if is_ours(path):
            same = path.read_text(encoding="utf-8", errors="replace") == text and os.access(
                path, os.X_OK
            )
            action = "unchanged" if same else "updated"
        else:
            action = "installed"
        if action != "unchanged":
            _write_executable(path, text)
        if kept is None and os.path.lexists(legacy):
            kept = str(legacy)
        changes.append(HookChange(hook, str(path), action, kept))
    return changes


def uninstall(repo: GitRepo) -> list[HookChange]:
    """Remove our hooks and put back the ones they replaced; foreign hooks are left alone."""
    directory = hooks_dir(repo)
    changes = []
    for hook in HOOK_NAMES:
        path, legacy = directory / hook, directory / (hook + LEGACY_SUFFIX)
        ours = installed_hook(path)
        if ours is not None and ours != path:
            # Behind the pre-commit framework: it runs `<hook>.legacy`, which was ours.
            os.unlink(ours)
            if os.path.lexists(legacy):
                os.rename(legacy, ours)
                changes.append(HookChange(hook, str(ours), "restored", str(legacy)))
            else:
                changes.append(HookChange(hook, str(ours), "removed"))
            continue
        if os.path.lexists(path) and not is_ours(path):
            changes.append(HookChange(hook, str(path), "foreign"))
            continue
        existed = os.path.lexists(path)
        if existed:
            os.unlink(path)
        if os.path.lexists(legacy):
            os.rename(legacy, path)
            changes.append(HookChange(hook, str(path), "restored", str(legacy)))
        else:
            changes.append(HookChange(hook, str(path), "removed" if existed else "absent"))
    return changes


def init(
    repo: GitRepo, python: str | None = None, *, shared_hooks_path_ok: bool = False
) -> tuple[list[str], list[HookChange]]:
    """Write the example sources where missing (never over a file), then install the hooks."""
    from importlib.resources import files

    from speckit_git_policy.policy.sources import source_paths

    paths = source_paths(repo)
    if shared_hooks_path(repo) is not None and not shared_hooks_path_ok:
        install(repo, python)  # refuses before a source is written, with the reason and the fix
    templates = files("speckit_git_policy") / "templates"
    written = []
    for path, template in ((paths.policy, "model_policy.toml"), (paths.doc, "MODEL-POLICY.md")):
        target = Path(repo.root) / path
        if os.path.lexists(target):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((templates / template).read_bytes())
        written.append(path)
    return written, install(repo, python, shared_hooks_path_ok=shared_hooks_path_ok)


# ---- the capsule of a clone (install, init) ---------------------------------------------
def set_up_capsule(repo: GitRepo) -> dict[str, object]:
    """What ``install`` does for the capsule, so that a fresh clone needs no other step:
    every remote gets the tracking fetch refspec, each is fetched once and what came is
    merged through the door (``store.capsule.sync.set_up``), then the snapshots the
    capsule holds and ``.speckit/policies/`` lacks are restored, each after its hash
    checks out (what ``verify --repair`` does for a missing copy). Never fails for a
    remote that cannot be reached; nothing is done with ``speckit.capsule=false``."""
    if not repo.config_bool("speckit.capsule", True):
        return {"remotes": [], "refs": {}, "refused": [], "restored": []}
    from speckit_git_policy.store.capsule.sync import set_up

    result = set_up(repo)
    result["restored"] = restore_snapshots(repo)
    return result


def restore_snapshots(repo: GitRepo) -> list[str]:
    """Write every snapshot the capsule holds and the filesystem lacks (never one pruned
    on purpose, never a copy that does not verify); the policy ids written."""
    from speckit_git_policy.errors import SpeckitError
    from speckit_git_policy.store import Stores

    stores = Stores(repo)
    capsule = stores.capsule
    if capsule is None or repo.work_tree is None:
        return []
    restored: list[str] = []
    for policy_id in capsule.snapshot_ids():
        if stores.fs.read(policy_id) is not None or stores.fs.is_pruned(policy_id):
            continue
        try:
            data, _document = stores.read_verified(policy_id)
        except SpeckitError:
            continue  # `verify` reports it
        if not restored:
            stores.prepare()  # keep .speckit/ out of git status
        stores.fs.write(policy_id, data)
        restored.append(policy_id)
    return restored
