"""Class folder names → safe, unique Dagster partition keys.

Dagster does not validate dynamic partition keys, and ``|``, ``,``, ``[``, ``]`` and ``...`` break
multi-partition keys and UI backfills; ``/`` and control characters break paths. Keys are
therefore restricted to ASCII ``[A-Za-z0-9_.-]``. A name that had to be changed gets a short
stable hash of the *original* name appended, so two names that differ only by a removed character
still get different keys, and the same name always gets the same key on every machine. The
original name is kept in the catalog (``audio_files.audio_class``).

Folders and files whose name starts with ``.`` are hidden and ignored everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sec_assets.core.hashing import stable_hex

MAX_KEY_LENGTH = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_DOTS = re.compile(r"\.{2,}")
_UNDERSCORES = re.compile(r"_{2,}")


IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".crdownload")  # names of files still being written


def in_progress(name: str) -> bool:
    """A file still being copied or downloaded: hidden, or a temporary name (``*.part``, …)."""
    return is_hidden(name) or name.lower().endswith(IN_PROGRESS_SUFFIXES)


def is_hidden(name: str) -> bool:
    """Hidden entries (leading dot) are skipped: editors, OS metadata, partial uploads."""
    return name.startswith(".")


def partition_key_for(name: str) -> str:
    """The partition key for a class folder name (pure function of the name)."""
    if not name or not name.strip():
        raise ValueError("a class folder name must not be empty")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = _UNSAFE.sub("_", ascii_name)
    safe = _DOTS.sub(".", safe)
    safe = _UNDERSCORES.sub("_", safe).strip("._-")
    if safe == name and len(safe) <= MAX_KEY_LENGTH:
        return safe
    suffix = stable_hex("class-name", name, size=4)
    stem = (safe or "class")[: MAX_KEY_LENGTH - len(suffix) - 1].rstrip("._-") or "class"
    return f"{stem}-{suffix}"


def partition_keys_for(names: Iterable[str]) -> dict[str, str]:
    """Map every name to its key; raise if two different names would share a key."""
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in sorted(set(names)):
        key = partition_key_for(name)
        if key in seen:
            raise ValueError(f"class folders {seen[key]!r} and {name!r} both map to key {key!r}")
        seen[key] = name
        mapping[name] = key
    return mapping
