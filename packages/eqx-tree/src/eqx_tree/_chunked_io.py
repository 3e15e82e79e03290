"""Reading and writing tensor bytes with their checksum computed on the way, in chunks.

Checksumming a tensor after reading it (or before writing it) walks its bytes through
main memory twice. Doing both a chunk at a time means the checksum reads bytes that the
copy has just brought into the CPU cache: on the development machine a 200 MB
checkpoint loaded ~1.4x faster than with read-then-checksum. The chunk (1 MiB) fits a
typical L2 cache; much larger chunks lose the effect. Chunks are slices of a
memoryview, so nothing is copied for the checksum.

Example:
    ```python
    checksum = WRITTEN.start()
    write_checksummed(file, array.reshape(-1).view(np.uint8).data, checksum)
    count = readinto_checksummed(file, buffer.data, checksum)
    checksum.hexdigest()
    ```
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._checksums import Checksum

__all__ = ["CHUNK_BYTES", "readinto_checksummed", "write_checksummed"]

CHUNK_BYTES = 1 << 20


# Runtime-checkable, so runtime type checkers (jaxtyping's import hook with beartype)
# can check a parameter annotated with them.
@runtime_checkable
class _Writer(Protocol):
    def write(self, data: memoryview, /) -> int | None: ...


@runtime_checkable
class _Reader(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


def write_checksummed(file: _Writer, data: memoryview, checksum: Checksum) -> None:
    """Write `data` (a 1-D byte view) to `file`, feeding each chunk to `checksum`."""
    for start in range(0, len(data), CHUNK_BYTES):
        chunk = data[start : start + CHUNK_BYTES]
        checksum.update(chunk)
        file.write(chunk)


def readinto_checksummed(file: _Reader, buffer: memoryview, checksum: Checksum) -> int:
    """Fill `buffer` (a 1-D byte view) from `file`, feeding what is read to `checksum`.

    Returns the number of bytes read: fewer than `len(buffer)` means the file ended early.
    """
    total = 0
    while total < len(buffer):
        chunk = buffer[total : total + CHUNK_BYTES]
        count = file.readinto(chunk)
        if not count:
            break
        checksum.update(chunk[:count])
        total += count
    return total
