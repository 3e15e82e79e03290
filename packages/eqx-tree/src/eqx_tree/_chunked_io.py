"""Reading and writing tensor bytes with their CRC-32 computed on the way, in chunks.

Checksumming a tensor after reading it (or before writing it) walks its bytes through
main memory twice. Doing both a chunk at a time means the checksum reads bytes that the
copy has just brought into the CPU cache: on the development machine a 200 MB
checkpoint loads ~1.4x faster than with read-then-checksum (about 0.8x of the
`safetensors` library's unchecked load; docs/performance.md). The chunk (1 MiB) fits a
typical L2 cache; much larger chunks lose the effect.

Example:
    ```python
    crc = write_with_crc32(file, array.reshape(-1).view(np.uint8).data)
    count, crc = readinto_with_crc32(file, buffer.data)
    ```
"""

from __future__ import annotations

import zlib
from typing import Protocol, runtime_checkable

__all__ = ["CHUNK_BYTES", "readinto_with_crc32", "write_with_crc32"]

CHUNK_BYTES = 1 << 20


# Runtime-checkable, so runtime type checkers (jaxtyping's import hook with beartype)
# can check a parameter annotated with them.
@runtime_checkable
class _Writer(Protocol):
    def write(self, data: memoryview, /) -> int | None: ...


@runtime_checkable
class _Reader(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


def write_with_crc32(file: _Writer, data: memoryview) -> int:
    """Write `data` (a 1-D byte view) to `file`; return its CRC-32."""
    crc = 0
    for start in range(0, len(data), CHUNK_BYTES):
        chunk = data[start : start + CHUNK_BYTES]
        crc = zlib.crc32(chunk, crc)
        file.write(chunk)
    return crc


def readinto_with_crc32(file: _Reader, buffer: memoryview) -> tuple[int, int]:
    """Fill `buffer` (a 1-D byte view) from `file`; return `(bytes read, their CRC-32)`.

    Fewer bytes than `len(buffer)` means the file ended early.
    """
    crc = 0
    total = 0
    while total < len(buffer):
        chunk = buffer[total : total + CHUNK_BYTES]
        count = file.readinto(chunk)
        if not count:
            break
        crc = zlib.crc32(chunk[:count], crc)
        total += count
    return total, crc
