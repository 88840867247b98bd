"""Running the git binary: the one place a process is spawned (``posix_spawn`` and pipes)."""

from __future__ import annotations

import os

from speckit_git_policy.errors import GitError

# _signal, not signal: the signal module wraps the numbers in enums, and enum is
# a tenth of a hook's start-up. No pathlib, typing or dataclasses either.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    import _signal


def run_git(
    args: list[str],
    cwd: str | os.PathLike[str] | None = None,
    *,
    input_bytes: bytes | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> bytes:
    """Run git and return raw stdout; raise GitError with git's own message."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    if cwd is not None:
        _anchor_relative_paths(full_env)
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


# Paths git reads from its environment relative to the directory it starts in: git runs
# in ``cwd`` (``-C``), so a relative one is made absolute against ours first, or
# `GIT_DIR=../repo/.git git speckit-policy ...` would name another directory to git.
_PATH_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
)


def _anchor_relative_paths(env: dict[str, str]) -> None:
    for name in _PATH_VARIABLES:
        value = env.get(name)
        if value and not os.path.isabs(value):
            env[name] = os.path.abspath(value)


def _find_git(env: dict[str, str]) -> str:
    """git's path on the PATH the child gets, as subprocess looks it up."""
    for directory in os.get_exec_path(env):
        candidate = os.path.join(directory, "git")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("git")


def _spawn_git(
    args: list[str],
    cwd: str | os.PathLike[str] | None,
    input_bytes: bytes | None,
    env: dict[str, str],
) -> tuple[int, bytes, bytes]:
    """``subprocess.run(["git", ...], cwd=, input=, capture_output=True)`` through
    ``posix_spawn`` and pipes: importing subprocess costs a git hook more than the
    git call. ``git -C`` stands for ``cwd`` (posix_spawn has no chdir before 3.13);
    stdin, stdout and stderr are served together, so no pipe fills up and blocks."""
    import select

    argv = ["git", *(["-C", os.fspath(cwd)] if cwd is not None else []), *args]
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    in_read, in_write = os.pipe() if input_bytes is not None else (-1, -1)
    actions = [(os.POSIX_SPAWN_DUP2, out_write, 1), (os.POSIX_SPAWN_DUP2, err_write, 2)]
    if input_bytes is not None:
        actions.append((os.POSIX_SPAWN_DUP2, in_read, 0))
    default_signals = [
        getattr(_signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(_signal, name)
    ]
    try:
        pid = os.posix_spawn(
            _find_git(env), argv, env, file_actions=actions, setsigdef=default_signals
        )
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
                        pending = pending[os.write(fd, pending[:65536]) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = memoryview(
                            b""
                        )  # git stopped reading: as subprocess, not an error
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
        os.kill(pid, _signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        for fd in (out_read, err_read, in_write):
            if fd >= 0:
                os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks[out_read]), b"".join(chunks[err_read])


def _subprocess_git(
    args: list[str],
    cwd: str | os.PathLike[str] | None,
    input_bytes: bytes | None,
    env: dict[str, str],
) -> tuple[int, bytes, bytes]:  # pragma: no cover -- Windows
    import subprocess

    result = subprocess.run(
        ["git", *args], cwd=cwd, input=input_bytes, capture_output=True, env=env
    )
    return result.returncode, result.stdout, result.stderr


class GitPipe:
    """A long-lived git process fed on stdin and read on stdout (``cat-file --batch``).

    stderr goes to a pipe that is only read once git stops answering, to say why; the
    commands run this way print at most a line or two there.
    """

    def __init__(self, pid: int, stdin: int, stdout: int, stderr: int) -> None:
        self.pid = pid
        self._stdin = stdin
        self._stdout = os.fdopen(stdout, "rb", buffering=1 << 16)
        self._stderr = stderr
        self._closed = False

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._stdin, view) :]
        except BrokenPipeError as e:
            raise GitError(f"git stopped reading: {self.stderr_text() or 'no message'}") from e

    def readline(self) -> bytes:
        return self._stdout.readline()

    def read_exactly(self, size: int) -> bytes:
        data = self._stdout.read(size)
        if len(data) != size:
            raise GitError(f"git's answer was cut short: {self.stderr_text() or 'no message'}")
        return data

    def stderr_text(self) -> str:
        os.set_blocking(self._stderr, False)
        try:
            return os.read(self._stderr, 65536).decode("utf-8", "replace").strip()
        except (BlockingIOError, OSError):
            return ""

    def kill(self) -> None:
        """Stop git without reading what it is writing (an answer too big to read)."""
        if not self._closed:
            os.kill(self.pid, _signal.SIGKILL)
            self.close()

    def close(self) -> None:
        """Close stdin (git exits at end of input) and reap the process."""
        if self._closed:
            return
        self._closed = True
        os.close(self._stdin)
        self._stdout.close()
        os.close(self._stderr)
        os.waitpid(self.pid, 0)

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass


def spawn_git_pipe(args: list[str], env: dict[str, str] | None = None) -> GitPipe:
    """Start ``git <args>`` with stdin, stdout and stderr on pipes, for a caller that
    talks to it request by request (``run_git`` is for one input, one output)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    actions = [
        (os.POSIX_SPAWN_DUP2, in_read, 0),
        (os.POSIX_SPAWN_DUP2, out_write, 1),
        (os.POSIX_SPAWN_DUP2, err_write, 2),
    ]
    default_signals = [
        getattr(_signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(_signal, name)
    ]
    try:
        pid = os.posix_spawn(
            _find_git(full_env),
            ["git", *args],
            full_env,
            file_actions=actions,
            setsigdef=default_signals,
        )
    except FileNotFoundError as e:
        for fd in (in_read, in_write, out_read, out_write, err_read, err_write):
            os.close(fd)
        raise GitError("git is not installed or not on PATH") from e
    except BaseException:
        for fd in (in_read, in_write, out_read, out_write, err_read, err_write):
            os.close(fd)
        raise
    for fd in (in_read, out_write, err_write):
        os.close(fd)
    for fd in (in_write, out_read, err_read):
        os.set_inheritable(fd, False)
    return GitPipe(pid, in_write, out_read, err_read)
