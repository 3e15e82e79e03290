"""The checksums a checkpoint records, by the name its header gives them.

`tree_save` checksums every tensor's bytes, and the header itself, with XXH3-64 (from
the `xxhash` package): it runs at ~16 GB/s on the development machine, faster than
the copy it rides along with, where zlib's CRC-32 ran at ~3 GB/s and made a verified
load or save cost ~1.3x an unverified one (docs/performance.md). Files written
before the switch record CRC-32s and keep loading: the reader picks the algorithm each
file names.

Example:
    ```python
    checksum = WRITTEN.start()
    checksum.update(memoryview(b"abc"))
    checksum.hexdigest()  # 16 hex digits for XXH3-64
    ```
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = [
    "ALGORITHMS",
    "CRC32",
    "WRITTEN",
    "XXH3_64",
    "Checksum",
    "ChecksumAlgorithm",
    "RecordedChecksum",
]


# Runtime-checkable, so runtime type checkers (jaxtyping's import hook with beartype)
# can check a parameter annotated with it.
@runtime_checkable
class Checksum(Protocol):
    """A running checksum: fed bytes in order, then read as lowercase hex digits."""

    def update(self, data: memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class ChecksumAlgorithm:
    """A checksum as a file names it (`name`), with its fixed-width hex digest."""

    name: str
    label: str  # for messages: "XXH3-64"
    hex_digits: int
    start: Callable[[], Checksum]


@dataclasses.dataclass(frozen=True)
class RecordedChecksum:
    """The checksum a file records for some bytes: which algorithm, and its hex digest."""

    algorithm: ChecksumAlgorithm
    hexdigest: str


class _Crc32:
    """zlib's CRC-32 with the `update` / `hexdigest` interface of `hashlib` and `xxhash`."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: memoryview, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def hexdigest(self) -> str:
        return f"{self._value:08x}"


def _start_xxh3_64() -> Checksum:
    # Imported on the first save or load, so `import eqx_tree` does not pay for it.
    import xxhash

    return xxhash.xxh3_64()


XXH3_64 = ChecksumAlgorithm("xxh3_64", "XXH3-64", 16, _start_xxh3_64)
CRC32 = ChecksumAlgorithm("crc32", "CRC-32", 8, _Crc32)
ALGORITHMS = {algorithm.name: algorithm for algorithm in (XXH3_64, CRC32)}
# What `tree_save` writes now.
WRITTEN = XXH3_64
