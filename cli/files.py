"""Where the command line writes its files: regular files only, whole or not at all.

``prepare_output(path)`` checks an output path and opens a temporary file beside its target
before anything is computed or committed, so a path that cannot be written stops a command
before it changes anything. ``PendingOutput.write`` then fills the temporary file, flushes it to
disk and renames it over the target in one step (``os.replace``): a reader sees the old file or
the new one, never half of one, and a failed or interrupted write leaves nothing behind.

- A **symbolic link** is followed: its target is written (atomically, in the target's folder)
  and the link stays; a dangling link's target is created. A link that loops is refused.
- A **device, FIFO, socket or folder** is refused with a message: renaming over it would put a
  regular file where the device was, and writing into it is never what was meant.
- ``-`` means standard output where a command allows it (``write_output``).
- A file that is replaced keeps its permission bits (and, when run as root, its owner); a new
  file gets the usual permissions (0666 less the umask).

Every file the command line (``cli``) writes goes through here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from data.errors import ReliefCheckError

STDOUT = "-"
"""The output path that means standard output."""

_PART = ".part"
_MAX_STEM = 180  # keeps "<name>.<token>.part" under the usual 255-byte file-name limit


class OutputPathError(ReliefCheckError):
    """An output path that cannot be written (a device, a folder, a missing folder …)."""


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link that loops"
    return "a special file"


def _mode(real: Path, cannot: str) -> int | None:
    """``real``'s file mode (None when nothing is there yet); ``OutputPathError`` starting with
    ``cannot`` when it cannot be looked at."""
    try:
        return os.lstat(real).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputPathError(f"{cannot} ({exc.strerror}).") from None


def resolve_output(path: str | os.PathLike[str]) -> Path:
    """The regular file a write to ``path`` lands in: symbolic links followed (a dangling
    link's target included). Raises ``OutputPathError`` for a device, FIFO, socket, folder or
    looping link, and for a folder that does not exist."""
    shown = os.fspath(path)
    if not shown:
        raise OutputPathError("The output path is empty. Give a file name.")
    real = Path(os.path.realpath(shown))
    mode = _mode(real, f"Cannot write {shown}")
    if mode is not None and (what := _kind(mode)) is not None:
        target = "" if str(real) == os.path.abspath(shown) else f" (it leads to {real})"
        raise OutputPathError(
            f"Cannot write {shown}: it is {what}{target}, not a regular file. "
            "Give the path of a file to create or replace."
        )
    if not real.parent.is_dir():
        raise OutputPathError(
            f"Cannot write {shown}: the folder {real.parent} does not exist. "
            "Create it first or choose another path."
        )
    return real


def _same_file(a: Path, b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class PendingOutput:
    """A checked output path with its temporary file already open beside the target.

    Use as a context manager: ``write`` (or ``write_with``) puts the content in place; leaving
    the block without it removes the temporary file and leaves the target as it was.
    """

    def __init__(self, path: str | os.PathLike[str], *, protect: Iterable[object] = ()):
        self.shown = os.fspath(path)
        self.target = resolve_output(path)
        for other in protect:
            if other is not None and _same_file(self.target, os.fspath(other)):
                raise OutputPathError(
                    f"Cannot write {self.shown}: it is the file being read. Choose another path."
                )
        stem = self.target.name[:_MAX_STEM]
        self.done = False
        while True:
            self.temp = self.target.with_name(f"{stem}.{secrets.token_hex(4)}{_PART}")
            try:  # 0o666 less the umask, as open() would give a new file
                self._fd: int | None = os.open(
                    self.temp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                    0o666,
                )
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise OutputPathError(
                    f"Cannot write {self.shown} ({exc.strerror}). Check that the folder "
                    f"{self.target.parent} exists and can be written, or choose another path."
                ) from None

    def __enter__(self) -> PendingOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def discard(self) -> None:
        """Remove the temporary file (the target is left as it was, unless already written)."""
        self._close()
        if not self.done:
            self.temp.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, data: bytes | str) -> None:
        """Write ``data`` (text as UTF-8, line ends untouched) and put it in place."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(self._fd, view) :]  # type: ignore[arg-type]
        except OSError as exc:
            raise self._failed(exc) from None
        self._finish()

    def write_with(self, fill: Callable[[Path], object]) -> None:
        """Let ``fill(temp_path)`` write the temporary file by name, then put it in place."""
        self._close()
        try:
            fill(self.temp)
        except OSError as exc:
            raise self._failed(exc) from None
        self._finish()

    def _failed(self, exc: OSError) -> OutputPathError:
        """Discard the temporary file; the error that says nothing was written."""
        self.discard()
        return OutputPathError(
            f"Cannot write {self.shown} ({exc.strerror}); nothing was written there."
        )

    def _finish(self) -> None:
        try:
            if self._fd is None:
                self._fd = os.open(self.temp, os.O_RDWR | getattr(os, "O_BINARY", 0))
            os.fsync(self._fd)
            self._close()
            self._keep_mode()
            resolve_output(self.target)  # still not a device, FIFO or folder
            os.replace(self.temp, self.target)
        except OSError as exc:
            self.discard()
            raise OutputPathError(
                f"Cannot write {self.shown} ({exc.strerror}); nothing was written there."
            ) from None
        except OutputPathError:
            self.discard()
            raise
        self.done = True
        _sync_folder(self.target.parent)

    def _keep_mode(self) -> None:
        """A replaced file keeps its permission bits, and its owner when run as root."""
        try:
            old = os.stat(self.target)
        except FileNotFoundError:
            return
        os.chmod(self.temp, stat.S_IMODE(old.st_mode))
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            with contextlib.suppress(OSError):
                os.chown(self.temp, old.st_uid, old.st_gid)


def _sync_folder(folder: Path) -> None:
    """Flush the rename to disk where the platform allows (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def prepare_output(
    path: str | os.PathLike[str], *, protect: Iterable[object] = ()
) -> PendingOutput:
    """Check ``path`` and open its temporary file; see ``PendingOutput``. ``protect`` lists
    files that must not be overwritten (the input being read)."""
    if os.fspath(path) == STDOUT:
        raise OutputPathError(
            "This output cannot go to standard output (-), which carries the report. "
            "Give the path of a file."
        )
    return PendingOutput(path, protect=protect)


def write_stdout(data: bytes | str) -> None:
    """Text (or UTF-8 bytes) to standard output, ending with a line end."""
    text = data if isinstance(data, str) else data.decode("utf-8")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def prepare_folder(path: str | os.PathLike[str]) -> Path:
    """The output folder ``path`` (links followed), created with its parents if missing.
    Raises ``OutputPathError`` when it is a file or a special file, or cannot be created."""
    shown = os.fspath(path)
    if shown in ("", STDOUT):
        raise OutputPathError("This command writes several files: give a folder for --out.")
    real = Path(os.path.realpath(shown))
    mode = _mode(real, f"Cannot use {shown}")
    if mode is not None and not stat.S_ISDIR(mode):
        raise OutputPathError(
            f"Cannot write into {shown}: it is {_kind(mode) or 'a file'}, not a folder. "
            "Give the path of a folder (it is created if missing)."
        )
    try:
        real.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            f"Cannot create the folder {shown} ({exc.strerror}). Choose another path."
        ) from None
    return real
