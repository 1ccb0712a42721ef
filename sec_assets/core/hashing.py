"""Stable hashes and seeds.

Python's ``hash()`` is salted per process (``PYTHONHASHSEED``), which made the predecessor's
seeds change on every run. Everything random in this project is seeded from blake2b digests of
explicit record keys instead, so a value depends only on *what* is computed, never on process,
batch layout, worker count or host.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20


def stable_digest(*parts: object, size: int = 16) -> bytes:
    """blake2b digest of the parts, each rendered with ``repr`` and length-prefixed (unambiguous)."""
    h = hashlib.blake2b(digest_size=size)
    for part in parts:
        data = repr(part).encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.digest()


def stable_hex(*parts: object, size: int = 8) -> str:
    """Short hex id of the parts, for keys and file names."""
    return stable_digest(*parts, size=size).hex()


def stable_seed(*parts: object) -> int:
    """A 63-bit seed for ``numpy.random.default_rng`` / ``torch.Generator`` from record keys."""
    return int.from_bytes(stable_digest(*parts, size=8), "little") >> 1


def stable_unit(*parts: object) -> float:
    """A number in [0, 1) determined by the parts (for ordering and assignment)."""
    return (int.from_bytes(stable_digest(*parts, size=8), "little") >> 11) / float(1 << 53)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, streamed (files can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def files_sha256(paths: Iterable[Path]) -> str:
    """One sha256 over several files' bytes in the given order (an output fingerprint)."""
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode())
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()
