"""The one place that talks to git for the working tree, index, history and config.

Reads go through the real ``git`` binary: it honours ``GIT_DIR``, ``GIT_INDEX_FILE``,
``GIT_WORK_TREE`` and linked worktrees exactly as the git that runs our hooks does,
which dulwich's ``Repo()`` does not. The capsule (``store/capsule.py``) writes
objects and refs with dulwich through ``GitRepo.dulwich()``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import GitError, NotFound

# typing and dataclasses are imported for type checkers only: the git hook's hot
# path must not pay for them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dulwich.object_store import DiskObjectStore
    from dulwich.objects import ShaFile
    from dulwich.refs import DiskRefsContainer

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def run_git(
    args: list[str],
    cwd: Path | None = None,
    *,
    input_bytes: bytes | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> bytes:
    """Run git and return raw stdout; raise GitError with git's own message."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        if hasattr(os, "posix_spawn"):
            returncode, stdout, stderr = _spawn_git(args, cwd, input_bytes, full_env)
        else:  # pragma: no cover -- Windows
            returncode, stdout, stderr = _subprocess_git(args, cwd, input_bytes, full_env)
    except FileNotFoundError as e:
        raise GitError("git is not installed or not on PATH") from e
    if check and returncode != 0:
        message = stderr.decode("utf-8", "replace").strip().splitlines()
        first = message[-1] if message else f"exit {returncode}"
        raise GitError(f"git {args[0]}: {first.removeprefix('fatal: ')}")
    return stdout


def _find_git(env: dict[str, str]) -> str:
    """git's path on the PATH the child gets, as subprocess looks it up."""
    for directory in os.get_exec_path(env):
        candidate = os.path.join(directory, "git")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("git")


def _spawn_git(args: list[str], cwd: Path | None, input_bytes: bytes | None,
               env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """``subprocess.run(["git", ...], cwd=, input=, capture_output=True)`` through
    ``posix_spawn`` and pipes: importing subprocess costs a git hook more than the
    git call. ``git -C`` stands for ``cwd`` (posix_spawn has no chdir before 3.13);
    stdin, stdout and stderr are served together, so no pipe fills up and blocks."""
    import select
    import signal

    argv = ["git", *(["-C", os.fspath(cwd)] if cwd is not None else []), *args]
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    in_read, in_write = os.pipe() if input_bytes is not None else (-1, -1)
    actions = [(os.POSIX_SPAWN_DUP2, out_write, 1), (os.POSIX_SPAWN_DUP2, err_write, 2)]
    if input_bytes is not None:
        actions.append((os.POSIX_SPAWN_DUP2, in_read, 0))
    default_signals = [getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name)]
    try:
        pid = os.posix_spawn(_find_git(env), argv, env, file_actions=actions, setsigdef=default_signals)
    except BaseException:
        for fd in (out_read, out_write, err_read, err_write, in_read, in_write):
            if fd >= 0:
                os.close(fd)
        raise
    os.close(out_write)
    os.close(err_write)
    if in_read >= 0:
        os.close(in_read)
    chunks: dict[int, list[bytes]] = {out_read: [], err_read: []}
    pending = memoryview(input_bytes) if input_bytes is not None else memoryview(b"")
    poller = select.poll()
    poller.register(out_read, select.POLLIN)
    poller.register(err_read, select.POLLIN)
    if in_write >= 0:
        if pending:
            os.set_blocking(in_write, False)
            poller.register(in_write, select.POLLOUT)
        else:
            os.close(in_write)
            in_write = -1
    open_fds = {out_read, err_read} | ({in_write} if in_write >= 0 else set())
    try:
        while open_fds:
            for fd, _event in poller.poll():
                if fd == in_write:
                    try:
                        pending = pending[os.write(fd, pending[:65536]):]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = memoryview(b"")  # git stopped reading: as subprocess, not an error
                    if not pending:
                        poller.unregister(fd)
                        os.close(fd)
                        open_fds.discard(fd)
                        in_write = -1
                    continue
                data = os.read(fd, 65536)
                if data:
                    chunks[fd].append(data)
                else:
                    poller.unregister(fd)
                    open_fds.discard(fd)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        for fd in (out_read, err_read, in_write):
            if fd >= 0:
                os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks[out_read]), b"".join(chunks[err_read])


def _subprocess_git(args: list[str], cwd: Path | None, input_bytes: bytes | None,
                    env: dict[str, str]) -> tuple[int, bytes, bytes]:  # pragma: no cover -- Windows
    import subprocess

    result = subprocess.run(["git", *args], cwd=cwd, input=input_bytes, capture_output=True, env=env)
    return result.returncode, result.stdout, result.stderr


class GitRepo:
    """A repository as git sees it from a directory (and git's environment)."""

    def __init__(self, work_tree: Path | None, git_dir: Path, common_dir: Path) -> None:
        self.work_tree = work_tree
        self.git_dir = git_dir
        self.common_dir = common_dir
        self._dulwich: Any = None
        self._config: dict[str, str | None] | None = None

    def __repr__(self) -> str:
        return f"GitRepo(work_tree={self.work_tree!r}, git_dir={self.git_dir!r})"

    # ---- discovery -------------------------------------------------------------
    @classmethod
    def discover(cls, path: str | Path | None = None) -> GitRepo:
        start = Path(path) if path is not None else Path.cwd()
        if not start.is_dir():
            raise NotFound(f"{start}: no such directory")
        try:
            out = run_git(
                ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
                 "--is-inside-work-tree", "--show-toplevel"],
                cwd=start,
                check=True,
            )
        except GitError as e:
            # A bare repository has no top level: ask again without it.
            try:
                out = run_git(
                    ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
                     "--is-inside-work-tree"],
                    cwd=start,
                )
            except GitError:
                raise GitError(f"{start}: not a git repository") from e
        lines = out.decode().splitlines()
        git_dir, common_dir, inside = Path(lines[0]), Path(lines[1]), lines[2] == "true"
        work_tree = Path(lines[3]) if inside and len(lines) > 3 else None
        return cls(work_tree=work_tree, git_dir=git_dir, common_dir=common_dir)

    @property
    def root(self) -> Path:
        """The work tree; commands that need one fail clearly in a bare repo."""
        if self.work_tree is None:
            raise GitError(f"{self.git_dir}: this command needs a work tree (bare repository)")
        return self.work_tree

    def git(self, *args: str, input_bytes: bytes | None = None, check: bool = True) -> bytes:
        cwd = self.work_tree if self.work_tree is not None else self.git_dir
        return run_git(list(args), cwd=cwd, input_bytes=input_bytes, check=check)

    def git_text(self, *args: str) -> str:
        return self.git(*args).decode("utf-8", "replace")

    def dulwich(self) -> CapsuleRepo:
        """The *common* dir's objects and refs through dulwich (shared by worktrees)."""
        if self._dulwich is None:
            self._dulwich = CapsuleRepo(os.fspath(self.common_dir), self)
        repo: CapsuleRepo = self._dulwich
        return repo

    # ---- config ---------------------------------------------------------------
    def speckit_config(self) -> dict[str, str | None]:
        """Every ``speckit.*`` setting (lower-case keys; the last value wins), in one git call,
        or from memory after ``keep_speckit_config()``."""
        if self._config is not None:
            return self._config
        out = self.git("config", "-z", "--get-regexp", r"^speckit\.", check=False)
        found: dict[str, str | None] = {}
        for record in out.split(b"\0"):
            if record:
                key, newline, value = record.decode("utf-8", "replace").partition("\n")
                found[key.lower()] = value if newline else None  # no "=": a bare key
        return found

    def keep_speckit_config(self, listed: str | None = None) -> None:
        """Serve ``speckit.*`` settings from memory from now on (short-lived processes: hooks).

        ``listed`` is what ``git config --get-regexp '^speckit\\.'`` printed, when the
        caller already asked git (the sh hook does): "key value" lines.
        """
        if listed is None:
            self._config = self.speckit_config()
            return
        found: dict[str, str | None] = {}
        for line in listed.splitlines():
            key, space, value = line.partition(" ")
            if key:
                found[key.lower()] = value if space else None  # no "=": a bare key
        self._config = found

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
            if value in ("true", "yes", "on", "1"):
                return True
            if value in ("false", "no", "off", "0", ""):
                return False
            return default
        out = self.git("config", "--type=bool", "--get", key, check=False).decode().strip()
        if out == "true":
            return True
        if out == "false":
            return False
        return default

    # ---- commits and trees ----------------------------------------------------
    def head(self) -> str | None:
        """HEAD's commit SHA, or None on an unborn branch."""
        out = self.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        sha = out.decode().strip()
        return sha or None

    def resolve_commit(self, rev: str) -> str:
        if rev.startswith("-"):
            raise NotFound(f"{rev}: not a commit")
        out = self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        sha = out.decode().strip()
        if not sha:
            raise NotFound(f"{rev}: no such commit")
        return sha

    def blob_size(self, obj: str) -> int:
        return int(self.git("cat-file", "-s", obj).decode().strip())

    def read_blob(self, obj: str) -> bytes:
        return self.git("cat-file", "blob", obj)

    def changed_paths(self, commit: str) -> list[str]:
        """Paths the commit changed against its first parent (all files for a root commit)."""
        out = self.git(
            "diff-tree", "--no-commit-id", "-r", "--name-only", "-z", "--root",
            "-m", "--first-parent", commit,
        )
        return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]

    def commit_info(self, commit: str) -> dict[str, str]:
        """Author, date (ISO 8601 strict) and subject of a commit."""
        out = self.git("show", "-s", "--format=%H%x00%an <%ae>%x00%aI%x00%s", commit)
        sha, author, date, subject = out.decode("utf-8", "replace").rstrip("\n").split("\0", 3)
        return {"commit": sha, "author": author, "date": date, "subject": subject}

    def info_exclude_path(self) -> Path:
        return self.common_dir / "info" / "exclude"


class CapsuleRepo:
    """The part of a dulwich ``Repo`` the capsule uses: ``object_store``, ``refs``,
    ``commondir()`` and ``get_config_stack()``, over a repository's common dir.

    Not a ``Repo``: opening one imports dulwich.repo and its pack machinery (hooks,
    worktrees, config, logging...) and reads the config, about a fifth of a
    post-commit hook. The refs are dulwich's own ``DiskRefsContainer``, built as
    ``Repo`` builds it (no reflog: the capsule's updates carry no message, so
    ``Repo`` writes none either); objects go through ``LooseFirstObjects``.
    """

    def __init__(self, common_dir: str, repo: GitRepo) -> None:
        self._common_dir = common_dir
        self._repo = repo
        self.object_store = LooseFirstObjects(common_dir)
        self._refs: DiskRefsContainer | None = None
        self._user_config: UserConfig | None = None

    def commondir(self) -> str:
        return self._common_dir

    @property
    def refs(self) -> DiskRefsContainer:
        if self._refs is None:
            from dulwich.refs import DiskRefsContainer

            self._refs = DiskRefsContainer(self._common_dir, self._common_dir)
        return self._refs

    def get_config_stack(self) -> UserConfig:
        if self._user_config is None:
            self._user_config = UserConfig(self._repo)
        return self._user_config


class UserConfig:
    """``user.name`` and ``user.email`` as git itself reads them (every config level,
    includes and ``includeIf``), looked up the way dulwich's ``StackedConfig.get``
    is: ``get((b"user",), b"name")`` → bytes, KeyError when unset. One git call
    costs a hook less than importing and parsing dulwich's config stack."""

    def __init__(self, repo: GitRepo) -> None:
        self._repo = repo
        self._values: dict[bytes, bytes] | None = None

    def get(self, section: tuple[bytes, ...], name: bytes) -> bytes:
        if section != (b"user",):
            raise KeyError(name)
        if self._values is None:
            out = self._repo.git("config", "-z", "--get-regexp", r"^user\.(name|email)$", check=False)
            self._values = {}
            for record in out.split(b"\0"):
                key, _, setting = record.partition(b"\n")
                if key:
                    self._values[key.split(b".", 1)[1].lower()] = setting  # the last value wins, as git's
        value = self._values.get(name.lower())
        if value is None:
            raise KeyError(name)
        return value


class LooseFirstObjects:
    """An object store that reads a loose object itself and leaves everything else
    (packs, alternates, SHA-256 ids) to the dulwich ``Repo``'s own store, opened on
    first need: the capsule writes loose objects, so a hook rarely opens it."""

    def __init__(self, common_dir: str) -> None:
        self._common_dir = common_dir
        self.path = os.path.join(common_dir, "objects")
        self._repo: Any = None

    def repo(self) -> Any:
        """The dulwich ``Repo`` (opened once, on first need)."""
        if self._repo is None:
            from dulwich.repo import Repo

            self._repo = Repo(self._common_dir)
        return self._repo

    def __getitem__(self, sha: bytes) -> ShaFile:
        if len(sha) == 40:
            from dulwich.objects import ShaFile

            hexid = sha.decode("ascii")
            try:
                return ShaFile.from_path(os.path.join(self.path, hexid[:2], hexid[2:]), sha)  # type: ignore[arg-type]
            except FileNotFoundError:
                pass
        obj: ShaFile = self.repo().object_store[sha]
        return obj

    def contains_packed(self, sha: bytes) -> bool:
        try:
            packs = [name for name in os.listdir(os.path.join(self.path, "pack")) if name.endswith(".pack")]
        except FileNotFoundError:
            packs = []
        if not packs:
            return False
        store: DiskObjectStore = self.repo().object_store
        return bool(store.contains_packed(sha))  # type: ignore[arg-type]
