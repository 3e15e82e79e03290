"""Crash-safe file replacement, shared by `tree_save` and `tree_serialise_leaves`.

A checkpoint is written to a temporary file beside its destination, fsynced, then renamed
over it, so the destination always holds either the previous file or the complete new
one. What a crash leaves behind is designed to be obvious and self-cleaning:

- the temporary file is named `<name>.tmp-<pid>` (for `model.safetensors`, written by
  process 4242: `model.safetensors.tmp-4242`): visible in `ls`, and clearly an
  unfinished `model.safetensors`;
- the next save to the same path deletes that path's temporaries whose process is no
  longer running on this machine (or is this very process, but not writing it now), so
  a crash costs disk space only until the next save.

A write that fails (a full disk, a file-size limit, a quota) raises an `OSError` that
carries the errno and names the destination file, and leaves the previous file intact.

Example:
    ```python
    with atomic_writer("model.safetensors") as file:
        file.write(b"...")
    ```
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import threading
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["atomic_writer", "temporary_name"]

# Temporaries this process is writing now, so a concurrent save (another thread) of
# the same path neither reuses nor deletes them.
_IN_PROGRESS: set[str] = set()
_LOCK = threading.Lock()


def temporary_name(path: str, pid: int, attempt: int = 0) -> str:
    """The temporary file for `path` written by process `pid` (`model.eqx.tmp-4242`)."""
    return f"{path}.tmp-{pid}" if attempt == 0 else f"{path}.tmp-{pid}-{attempt}"


def _process_is_running(pid: int) -> bool:
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would terminate it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _remove_stale_temporaries(path: str) -> None:
    """Delete the temporaries of `path` left by processes that have died."""
    directory, filename = os.path.split(path)
    pattern = re.compile(re.escape(filename) + r"\.tmp-(\d+)(?:-\d+)?")
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        candidate = os.path.join(directory, name)
        pid = int(match.group(1))
        stale = pid != os.getpid() and not _process_is_running(pid)
        with _LOCK:
            stale |= pid == os.getpid() and candidate not in _IN_PROGRESS
        if stale:
            with contextlib.suppress(FileNotFoundError):
                os.remove(candidate)


def _claim_temporary(path: str) -> tuple[str, int]:
    """Create and open this process's temporary file for `path`, exclusively."""
    with _LOCK:
        attempt = 0
        while temporary_name(path, os.getpid(), attempt) in _IN_PROGRESS:
            attempt += 1
        temporary = temporary_name(path, os.getpid(), attempt)
        # 0o666 lets the umask decide the permissions, as for a plain open().
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        _IN_PROGRESS.add(temporary)
    return temporary, descriptor


def _write_error(error: OSError, path: str, file: BinaryIO) -> OSError:
    """`error` restated to name the destination, with its errno recovered if lost.

    NumPy's `ndarray.tofile` reports a short write as "N requested and M written",
    without the errno. A one-byte write to the same temporary file fails for the same
    reason (no space, a size limit) and says which.
    """
    code = error.errno
    if code is None:
        try:
            os.write(file.fileno(), b"\0")
        except OSError as probe:
            code = probe.errno
    code = code or errno.EIO
    return OSError(
        code,
        f"could not write the checkpoint {path!r}: {error.strerror or error}. The "
        "previous file at that path, if any, is unchanged; free space (or raise the "
        "limit) and save again",
        path,
    )


@contextlib.contextmanager
def atomic_writer(path: str) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` only when the `with` block completes.

    Raises:
        FileNotFoundError: the directory of `path` does not exist.
        OSError: writing failed (for example `ENOSPC`, a full disk); the message and
            `.filename` name `path`, and any previous file at `path` is unchanged.
    """
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"cannot save to {path!r}: the directory {directory!r} does not exist; create it "
            "first (os.makedirs)"
        )
    _remove_stale_temporaries(path)
    temporary, descriptor = _claim_temporary(path)
    try:
        with os.fdopen(descriptor, "wb") as file:
            try:
                yield file
                file.flush()
                os.fsync(file.fileno())
            except OSError as error:
                raise _write_error(error, path, file) from error
        os.replace(temporary, path)
        _fsync_directory(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    finally:
        with _LOCK:
            _IN_PROGRESS.discard(temporary)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(descriptor)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(descriptor)
