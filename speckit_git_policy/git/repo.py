"""A repository as git sees it: discovery, config, commits and trees, asked of the real
``git`` binary (it honours ``GIT_DIR``, ``GIT_INDEX_FILE``, ``GIT_WORK_TREE`` and linked
worktrees exactly as the git that runs our hooks does).
"""

from __future__ import annotations

import os

from speckit_git_policy.errors import BadInput, GitError, NotFound
from speckit_git_policy.git.plumbing import (
    is_object_id,
    parse_config_lines,
    parse_config_origins,
    parse_config_z,
)
from speckit_git_policy.git.process import run_git

# Team settings committed at the repository's root, in git-config syntax (docs/GUIDE.md).
TEAM_SETTINGS_FILE = ".speckitconfig"
# The settings a team may commit (git reports keys in lower case), each with the kind of
# value it takes; any other key in the file is ignored.
TEAM_SETTINGS = {
    "speckit.workspace": "workspace",
    "speckit.policyfile": "path",
    "speckit.docfile": "path",
    "speckit.capsule": "bool",
    "speckit.autopush": "bool",
    "speckit.sign": "bool",
    "speckit.requiresigned": "bool",
}
# Every speckit.* setting, and whether the work tree is a sparse checkout (which may leave
# .speckitconfig out); speckit_config() asks them in one call with the capsule commits'
# identity, as the sh hook does.
_CONFIG_KEYS = r"^speckit\.|^core\.sparsecheckout$"
_CONFIG_AND_USER_KEYS = _CONFIG_KEYS + r"|^user\.(name|email)$"
_SPARSE_KEY = "core.sparsecheckout"
# The committer identity of the capsule's commits, which the sh hook asks with the rest.
_USER_KEYS = ("user.name", "user.email")
# What discovery asks `git rev-parse` (then --show-toplevel, which a bare repository lacks).
_WHERE = (
    "rev-parse",
    "--path-format=absolute",
    "--git-dir",
    "--git-common-dir",
    "--is-inside-work-tree",
)
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0", "")

# No pathlib: the git hooks' hot path does without it (with fnmatch, re and
# urllib.parse it costs a hook more than its git calls do).
TYPE_CHECKING = False


class GitRepo:
    """A repository as git sees it from a directory (and git's environment)."""

    def __init__(
        self,
        work_tree: str | os.PathLike[str] | None,
        git_dir: str | os.PathLike[str],
        common_dir: str | os.PathLike[str],
    ) -> None:
        # Absolute paths as strings (os.path, not pathlib, on the hook path).
        self.work_tree = os.fspath(work_tree) if work_tree is not None else None
        self.git_dir = os.fspath(git_dir)
        self.common_dir = os.fspath(common_dir)
        # Handles the layers above keep per repository (the capsule's object database).
        self.memo: dict[str, object] = {}
        self._config: dict[str, str | None] | None = None
        # True: ``speckit_config`` keeps what it first read (a short-lived process: a
        # command, a hook); ``keep_speckit_config`` also reads it at once.
        self.keep_config = False
        self._team_cache: tuple[tuple[str, int, int, int], dict[str, str | None]] | None = None

    def __repr__(self) -> str:
        return f"GitRepo(work_tree={self.work_tree!r}, git_dir={self.git_dir!r})"

    # ---- discovery -------------------------------------------------------------
    @classmethod
    def discover_with_head(cls) -> tuple[GitRepo, str | None]:
        """The repository of the current directory and HEAD's commit (None when unborn),
        in one git call: the hooks pay for every process they start."""
        try:
            out = run_git(
                [*_WHERE, "--show-toplevel", "--verify", "--quiet", "HEAD^{commit}"],
                cwd=os.getcwd(),
                check=True,
            )
        except GitError:
            out = b""
        lines = out.decode().splitlines()
        if len(lines) == 5 and lines[2] == "true" and is_object_id(lines[4]):
            return cls(work_tree=lines[3], git_dir=lines[0], common_dir=lines[1]), lines[4]
        repo = cls.discover()  # unborn, bare, or anything else: the general way
        return repo, repo.head()

    @classmethod
    def discover(cls, path: str | os.PathLike[str] | None = None) -> GitRepo:
        start = os.fspath(path) if path is not None else os.getcwd()
        if not os.path.isdir(start):
            raise NotFound(f"{start}: no such directory")
        try:
            out = run_git(
                [*_WHERE, "--show-toplevel"],
                cwd=start,
                check=True,
            )
        except GitError as e:
            # A bare repository has no top level: ask again without it.
            try:
                out = run_git(
                    list(_WHERE),
                    cwd=start,
                )
            except GitError:
                raise GitError(f"{start}: not a git repository") from e
        lines = out.decode().splitlines()
        git_dir, common_dir = lines[0], lines[1]
        # git names the top level whenever there is a work tree, the cwd inside it or not
        # (GIT_DIR and GIT_WORK_TREE set, the cwd elsewhere): work as git does there.
        work_tree = lines[3] if len(lines) > 3 else None
        return cls(work_tree=work_tree, git_dir=git_dir, common_dir=common_dir)

    @property
    def root(self) -> str:
        """The work tree; commands that need one fail clearly in a bare repo."""
        if self.work_tree is None:
            raise GitError(f"{self.git_dir}: this command needs a work tree (bare repository)")
        return self.work_tree

    def git(self, *args: str, input_bytes: bytes | None = None, check: bool = True) -> bytes:
        cwd = self.work_tree if self.work_tree is not None else self.git_dir
        return run_git(list(args), cwd=cwd, input_bytes=input_bytes, check=check)

    def git_text(self, *args: str) -> str:
        return self.git(*args).decode("utf-8", "replace")

    # ---- config ---------------------------------------------------------------
    def speckit_config(self) -> dict[str, str | None]:
        """Every ``speckit.*`` setting in force (lower-case keys): the team's committed
        ``.speckitconfig``, overridden by git's own config at any level (system, global,
        local, worktree, ``-c``), where the last value of a key wins. One git call, and
        one more only where a ``.speckitconfig`` is read; from memory after
        ``keep_speckit_config()``. The call also reads ``user.name`` and ``user.email``,
        kept for the capsule's commits (``UserConfig``)."""
        if self._config is not None:
            return self._config
        out = self.git("config", "-z", "--get-regexp", _CONFIG_AND_USER_KEYS, check=False)
        found = parse_config_z(out)
        sparse = _is_true(found.pop(_SPARSE_KEY, b"false"))
        # The same call answers for the capsule commits' identity (``user_identity``).
        self.memo["user_identity"] = {
            key.split(".", 1)[1].encode(): found.pop(key) or b""
            for key in _USER_KEYS
            if key in found
        }
        own = {
            key: value.decode("utf-8", "replace") if value is not None else None
            for key, value in found.items()
        }
        settings = {**self.team_config(sparse), **own}
        if self.keep_config:
            self._config = settings
        return settings

    def keep_speckit_config(self, listed: str | None = None, *, with_user: bool = False) -> None:
        """Serve ``speckit.*`` settings from memory from now on (short-lived processes: hooks).

        ``listed`` is what ``git config --get-regexp`` printed, when the caller already
        asked git (the sh hook does, ``.speckitconfig``'s lines first): "key value" lines.
        ``with_user``: it asked for ``user.name`` and ``user.email`` too, which are then
        kept for the capsule's commits (``user_identity``), set or not.
        """
        keys = ("speckit.", _SPARSE_KEY, *(_USER_KEYS if with_user else ()))
        if listed is not None and all(
            line.lower().startswith(keys) for line in listed.splitlines() if line
        ):
            parsed = parse_config_lines(listed)
            self._config = {k: v for k, v in parsed.items() if k.startswith("speckit.")}
            if with_user:
                self.memo["user_identity"] = {
                    key.split(".", 1)[1].encode(): (value or "").encode("utf-8", "surrogateescape")
                    for key, value in parsed.items()
                    if key in _USER_KEYS
                }
            return
        # A value with a newline in it makes "key value" lines ambiguous: ask git again
        # with -z, so that every path reads the same value (and refuses it the same way).
        self._config = None
        self._config = self.speckit_config()

    # ---- team settings: .speckitconfig ----------------------------------------------
    def team_config_source(self, sparse: bool = False) -> str | None:
        """Where ``.speckitconfig`` is read from: the work tree's file (a regular file,
        never a symlink), else HEAD's blob in a bare repository or a sparse checkout
        (which may leave it out); None when there is none to read. A work tree whose file
        was deleted reads none, as the hooks do (they read what the commit is made from).
        """
        if self.work_tree is not None:
            path = os.path.join(self.work_tree, TEAM_SETTINGS_FILE)
            if os.path.isfile(path) and not os.path.islink(path):
                return path
            if not sparse:
                return None
        return f"HEAD:{TEAM_SETTINGS_FILE}"

    def team_config(self, sparse: bool = False) -> dict[str, str | None]:
        """The team settings committed in ``.speckitconfig`` (git-config syntax), checked:
        only the keys of ``TEAM_SETTINGS``, each a valid value for its key. The file comes
        from the repository, so it is untrusted input: anything else in it is ignored, and
        nothing in it is ever run. BadInput names the file when it cannot be read."""
        source = self.team_config_source(sparse)
        if source is None:
            return {}
        if source.startswith("HEAD:"):
            from speckit_git_policy.git.plumbing import tree_entries

            try:
                entry = tree_entries(self, "HEAD", [TEAM_SETTINGS_FILE]).get(TEAM_SETTINGS_FILE)
            except GitError:
                return {}  # no HEAD yet
            if entry is None or not entry[0].startswith("100"):
                return {}
            args = ["--blob", entry[1]]
        else:
            # Read again only when the file changed: settings are asked for several times
            # per command, and a long-lived process must still see an edit.
            try:
                info = os.stat(source)
            except FileNotFoundError:
                return {}  # removed a moment ago
            stamp = (source, info.st_mtime_ns, info.st_size, info.st_ino)
            if self._team_cache is not None and self._team_cache[0] == stamp:
                return dict(self._team_cache[1])
            args = ["-f", source]
        try:
            out = self.git("config", "-z", *args, "--list")
        except GitError as e:
            raise BadInput(
                f"{source}: not readable as git config ({e}); "
                f"check it with: git config -f {TEAM_SETTINGS_FILE} --list"
            ) from e
        settings: dict[str, str | None] = {}
        for key, raw in parse_config_z(out).items():
            if key in TEAM_SETTINGS:
                value = raw.decode("utf-8", "replace") if raw is not None else None
                settings[key] = _check_team_value(source, key, value)
        if args[0] == "-f":
            self._team_cache = (stamp, dict(settings))
        return settings

    def setting_origins(self) -> dict[str, tuple[str | None, str]]:
        """Where each ``speckit.*`` setting in force comes from: key → (value, origin),
        the origin being ``.speckitconfig`` (or ``HEAD:.speckitconfig``) or git's scope of
        the value that wins (``command``, ``worktree``, ``local``, ``global``, ``system``)
        and its file. A key set nowhere is absent: its default applies."""
        out = self.git(
            "config",
            "-z",
            "--show-scope",
            "--show-origin",
            "--get-regexp",
            _CONFIG_KEYS,
            check=False,
        )
        records = parse_config_origins(out)
        sparse = any(key == _SPARSE_KEY and _is_true(value) for _, _, key, value in records)
        origins: dict[str, tuple[str | None, str]] = {}
        source = self.team_config_source(sparse)
        for key, value in self.team_config(sparse).items():
            shown = TEAM_SETTINGS_FILE if source and not source.startswith("HEAD:") else source
            origins[key] = (value, str(shown))
        for scope, origin, key, raw in records:
            if key == _SPARSE_KEY:
                continue
            value = raw.decode("utf-8", "replace") if raw is not None else None
            if scope == "command":
                origins[key] = (value, "command line (git -c)")
                continue
            where = origin.removeprefix("file:")
            origins[key] = (value, f"{scope} config ({where})" if where else f"{scope} config")
        return origins

    def config_get(self, key: str) -> str | None:
        if key.lower().startswith("speckit."):
            value = (self.speckit_config().get(key.lower()) or "").strip()
            return value or None
        out = self.git("config", "--get", key, check=False)
        value = out.decode("utf-8", "replace").strip()
        return value or None

    def config_bool(self, key: str, default: bool) -> bool:
        """A boolean as git reads one (true/yes/on/1, false/no/off/0/empty); else ``default``."""
        if key.lower().startswith("speckit."):
            settings = self.speckit_config()
            if key.lower() not in settings:
                return default
            raw = settings[key.lower()]
            if raw is None:
                return True  # a bare key (no "="), as git reads it
            value = raw.strip().lower()
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False
            return default
        out = self.git("config", "--type=bool", "--get", key, check=False).decode().strip()
        if out == "true":
            return True
        if out == "false":
            return False
        return default

    # ---- commits and trees ----------------------------------------------------
    def verify(self, rev: str) -> str | None:
        """The object id ``rev`` names, or None when it names nothing (``rev-parse --verify``)."""
        out = self.git("rev-parse", "--verify", "--quiet", rev, check=False)
        return out.decode().strip() or None

    def head(self) -> str | None:
        """HEAD's commit SHA, or None on an unborn branch."""
        return self.verify("HEAD^{commit}")

    def resolve_commit(self, rev: str) -> str:
        if rev.startswith("-"):
            raise NotFound(f"{rev}: not a commit")
        sha = self.verify(f"{rev}^{{commit}}")
        if sha is None:
            raise NotFound(f"{rev}: no such commit")
        return sha

    def current_branch(self) -> str | None:
        """The short name of the branch HEAD is on; None when detached."""
        out = self.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return out.decode("utf-8", "replace").strip() or None

    def merge_base(self, one: str, other: str) -> str | None:
        """The best common ancestor of two commits; None for unrelated histories."""
        out = self.git("merge-base", one, other, check=False)
        return out.decode().strip() or None

    def remotes(self) -> list[str]:
        return self.git_text("remote").split()

    def blob_size(self, obj: str) -> int:
        return int(self.git("cat-file", "-s", obj).decode().strip())

    def read_blob(self, obj: str) -> bytes:
        return self.git("cat-file", "blob", obj)


def _is_true(raw: bytes | None) -> bool:
    return raw is None or raw.decode("utf-8", "replace").strip().lower() in _TRUE


def _check_team_value(source: str, key: str, value: str | None) -> str | None:
    """A value of ``.speckitconfig`` as the key needs it, else BadInput naming the file."""
    if value is None or not value.strip():
        return value  # a bare key (true) or an empty value (unset), as git reads them
    kind = TEAM_SETTINGS[key]
    problem = None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        problem = "holds a control character"
    elif kind == "bool" and value.strip().lower() not in (*_TRUE, *_FALSE):
        problem = "is not a boolean (true/false)"
    elif kind == "workspace":
        from speckit_git_policy.ids import check_workspace

        try:
            check_workspace(value.strip())
        except BadInput as e:
            problem = e.message
    elif kind == "path":
        import posixpath

        normalized = posixpath.normpath(value.strip().replace("\\", "/"))
        if posixpath.isabs(normalized) or normalized in (".", "..") or normalized.startswith("../"):
            problem = "must be a path inside the repository"
    if problem:
        raise BadInput(f"{source}: {key}={value!r}: {problem}")
    return value


if TYPE_CHECKING:
    RepoLike = GitRepo | str | os.PathLike[str] | None


def as_repo(repo: RepoLike) -> GitRepo:
    """A GitRepo as given, or discovered from a path (the current directory for None)."""
    return repo if isinstance(repo, GitRepo) else GitRepo.discover(repo)
