"""A repository as git sees it: discovery, config, commits and trees, asked of the real
``git`` binary (it honours ``GIT_DIR``, ``GIT_INDEX_FILE``, ``GIT_WORK_TREE`` and linked
worktrees exactly as the git that runs our hooks does).
"""

from __future__ import annotations

from pathlib import Path

from speckit_git_policy.errors import GitError, NotFound
from speckit_git_policy.git.plumbing import parse_config_lines, parse_config_z
from speckit_git_policy.git.process import run_git

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


class GitRepo:
    """A repository as git sees it from a directory (and git's environment)."""

    def __init__(self, work_tree: Path | None, git_dir: Path, common_dir: Path) -> None:
        self.work_tree = work_tree
        self.git_dir = git_dir
        self.common_dir = common_dir
        # Handles the layers above keep per repository (the capsule's object database).
        self.memo: dict[str, object] = {}
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
                [
                    "rev-parse",
                    "--path-format=absolute",
                    "--git-dir",
                    "--git-common-dir",
                    "--is-inside-work-tree",
                    "--show-toplevel",
                ],
                cwd=start,
                check=True,
            )
        except GitError as e:
            # A bare repository has no top level: ask again without it.
            try:
                out = run_git(
                    [
                        "rev-parse",
                        "--path-format=absolute",
                        "--git-dir",
                        "--git-common-dir",
                        "--is-inside-work-tree",
                    ],
                    cwd=start,
                )
            except GitError:
                raise GitError(f"{start}: not a git repository") from e
        lines = out.decode().splitlines()
        git_dir, common_dir = Path(lines[0]), Path(lines[1])
        # git names the top level whenever there is a work tree, the cwd inside it or not
        # (GIT_DIR and GIT_WORK_TREE set, the cwd elsewhere): work as git does there.
        work_tree = Path(lines[3]) if len(lines) > 3 else None
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

    # ---- config ---------------------------------------------------------------
    def speckit_config(self) -> dict[str, str | None]:
        """Every ``speckit.*`` setting (lower-case keys; the last value wins), in one git call,
        or from memory after ``keep_speckit_config()``."""
        if self._config is not None:
            return self._config
        out = self.git("config", "-z", "--get-regexp", r"^speckit\.", check=False)
        return {
            key: value.decode("utf-8", "replace") if value is not None else None
            for key, value in parse_config_z(out).items()
        }

    def keep_speckit_config(self, listed: str | None = None) -> None:
        """Serve ``speckit.*`` settings from memory from now on (short-lived processes: hooks).

        ``listed`` is what ``git config --get-regexp '^speckit\\.'`` printed, when the
        caller already asked git (the sh hook does): "key value" lines.
        """
        if listed is not None and all(
            line.lower().startswith("speckit.") for line in listed.splitlines() if line
        ):
            self._config = parse_config_lines(listed)
            return
        # A value with a newline in it makes "key value" lines ambiguous: ask git again
        # with -z, so that every path reads the same value (and refuses it the same way).
        self._config = None
        self._config = self.speckit_config()

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

    def info_exclude_path(self) -> Path:
        return self.common_dir / "info" / "exclude"


RepoLike = GitRepo | str | Path | None


def as_repo(repo: RepoLike) -> GitRepo:
    """A GitRepo as given, or discovered from a path (the current directory for None)."""
    return repo if isinstance(repo, GitRepo) else GitRepo.discover(repo)
