"""Files written so that a reader or a kill never sees half of one: a temp file in
the same directory, written whole, then renamed (or linked) into place.

Not ``tempfile``: importing it (shutil, random...) costs a git hook more than the
write it serves, and this module is on every hook's path.
"""

from __future__ import annotations

import os

# typing is for type checkers only: the git hook's hot path must not pay for it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    PathLike = str | os.PathLike[str]

_CREATE_FLAGS = (
    os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
)


def new_temp_file(
    directory: PathLike, prefix: str, suffix: str = "", mode: int = 0o600
) -> tuple[int, str]:
    """Create a new, empty file of a random name in ``directory`` (by default mode
    0600, as ``tempfile.mkstemp``; the umask applies): the open descriptor and the path."""
    for _attempt in range(100):
        path = os.path.join(directory, f"{prefix}{os.getpid()}_{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(path, _CREATE_FLAGS, mode), path
        except FileExistsError:
            continue  # 48 random bits: only ever a left-over of the same name
    raise FileExistsError(f"{directory}: no free temporary file name")


def write_temp_file(
    directory: PathLike,
    data: bytes,
    *,
    prefix: str,
    suffix: str = "",
    mode: int | None = None,
    durable: bool = True,
) -> str:
    """A new temp file in ``directory`` holding ``data``, closed: its path (the caller
    renames or links it into place, and removes it if that fails).

    ``mode`` None gives 0666 less the umask, like any file a user's tools write;
    else the file gets exactly ``mode``. ``durable`` fsyncs the data before the
    file is closed, so that the rename that follows cannot expose an empty file
    after a crash. On any failure the temp file is removed.
    """
    fd, path = new_temp_file(directory, prefix, suffix, 0o666 if mode is None else 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        except OSError as e:
            if e.filename is None and e.errno is not None:
                # A write names no file: say where (a full disk, say).
                raise OSError(e.errno, e.strerror, os.fspath(directory)) from e
            raise
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(path, mode)
    except BaseException:
        remove_quietly(path)
        raise
    return path


def atomic_write(
    path: PathLike, data: bytes, *, mode: int | None = None, durable: bool = True
) -> None:
    """Replace ``path`` with ``data`` so that a reader or a kill sees the old file or the
    new one, never a part of either.

    The temp file sits in the same directory (a rename within one file system is
    atomic); missing parent directories are created. ``mode`` as in
    ``write_temp_file``. ``durable`` also fsyncs the directory after the rename, so
    that the new name survives a crash.
    """
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    os.makedirs(directory, exist_ok=True)
    temp = write_temp_file(
        directory,
        data,
        prefix=f".{os.path.basename(target)}.",
        suffix=".tmp",
        mode=mode,
        durable=durable,
    )
    try:
        os.replace(temp, target)
    except BaseException:
        remove_quietly(temp)
        raise
    if durable:
        fsync_directory(directory)


def fsync_directory(directory: PathLike) -> None:
    """Make a rename or link in ``directory`` durable (best effort: not every system can)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_quietly(path: PathLike) -> None:
    """Remove a file that may already be gone."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def is_within(path: PathLike, directory: str) -> bool:
    """Whether ``path`` with every symlink resolved lies in ``directory`` (an absolute path
    the caller resolved as it means it), as ``Path(path).resolve().is_relative_to(directory)``
    tells, without pathlib on the hook path. A symlink loop is not within anything."""
    try:
        target = os.path.realpath(path)
    except (OSError, RuntimeError):
        return False
    return target == directory or target.startswith(directory.rstrip(os.sep) + os.sep)


def code_fingerprint(names: Iterable[str]) -> list[str]:
    """ "size:mtime_ns" of each file, named relative to the package (an absolute path
    stands for itself): what a kept result records of the code that computed it, so that
    an edit of that code (an editable install, a hot fix) is never served an old result."""
    package = os.path.dirname(os.path.abspath(__file__))
    stats = (
        os.stat(name if os.path.isabs(name) else os.path.join(package, *name.split("/")))
        for name in names
    )
    return [f"{info.st_size}:{info.st_mtime_ns}" for info in stats]
