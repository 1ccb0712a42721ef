"""Which folders of a tree have settled: the stability rule shared by the landing and inbox sensors.

Written by hand: watchdog-style notifications do not work on the NFS and Lustre storage of
clusters, and a sensor tick is a poll anyway; what this adds is a poll that stays cheap.

**The rule.** A folder's *listing* is its visible files with final names — not hidden and not a
temporary name (``*.part``, ``*.tmp``, ``*.crdownload``; :func:`keys.in_progress`) — each with
its size and modification time. A folder is *settled* when its listing is the same as when it
was last read, one tick earlier; a folder first seen, or whose listing changed (a file added,
removed, renamed, growing or rewritten), waits until a tick finds it unchanged. So a burst of
files landing over several minutes settles once, after the burst, and a file still being written
(its size or mtime moving) keeps its folder waiting. The rule compares observations, never the
clock: it is immune to clock skew between the storage server and this host.

**The cost.** A tick stats every known folder (one ``stat`` each) and reads the listing — one
``stat`` per file — only of the folders that may have changed: the folder's own mtime moved
(an entry was added, removed or renamed), it has not settled yet, or it is due in the rolling
full check. A file rewritten in place under the same name is the one change a folder's mtime
does not show; the rolling check re-reads each settled folder once every ``full_every`` ticks
(spread over the ticks by a stable hash of the folder's path), so such a change is seen within
``full_every`` ticks, while an ordinary tick of a quiet tree stats folders, not files.

The state is plain JSON (:meth:`TreeState.to_json`), small enough for a sensor cursor: one
short entry per folder, none per file.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from sec_assets.core.audio.keys import in_progress
from sec_assets.core.hashing import stable_hex

ROOT = "."  # the root folder's key


@dataclass(frozen=True)
class FolderState:
    mtime_ns: int  # the folder's own mtime when its listing was last read
    listing: str  # fingerprint of (name, size, mtime_ns) of its final-named files
    files: int
    settled: bool  # the listing read last equalled the one read before it
    read_tick: int  # the tick the listing was last read


@dataclass
class ScanStats:
    folders: int = 0  # folders stat'ed
    listed: int = 0  # folders whose listing was read
    files: int = 0  # files stat'ed
    pending: int = 0  # folders not settled


@dataclass
class TreeState:
    tick: int = 0
    folders: dict[str, FolderState] = field(default_factory=dict)

    def settled(self) -> dict[str, FolderState]:
        return {k: v for k, v in self.folders.items() if v.settled}

    def pending(self) -> list[str]:
        return sorted(k for k, v in self.folders.items() if not v.settled)

    def to_json(self) -> str:
        return json.dumps(
            {
                "tick": self.tick,
                "folders": {
                    k: [v.mtime_ns, v.listing, v.files, int(v.settled), v.read_tick]
                    for k, v in sorted(self.folders.items())
                },
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> TreeState:
        if not text:
            return cls()
        raw = json.loads(text)
        return cls(
            tick=int(raw["tick"]),
            folders={
                k: FolderState(int(m), str(fp), int(n), bool(s), int(t))
                for k, (m, fp, n, s, t) in raw["folders"].items()
            },
        )


def listing(folder: Path) -> tuple[str, int, list[str], int]:
    """(fingerprint, files, visible sub-folder names, files stat'ed) of one folder, not recursive."""
    entries: list[tuple[str, int, int]] = []
    subfolders: list[str] = []
    with os.scandir(folder) as it:
        for entry in it:
            if in_progress(entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(entry.name)
                    continue
                st = entry.stat()  # follows a link: a linked recording counts as its target
            except FileNotFoundError:  # removed, or a broken link: not part of the listing
                continue
            entries.append((entry.name, st.st_size, st.st_mtime_ns))
    entries.sort()
    return stable_hex(entries, size=8), len(entries), sorted(subfolders), len(entries)


def _due(key: str, tick: int, full_every: int) -> bool:
    return full_every > 0 and (tick + zlib.crc32(key.encode())) % full_every == 0


def scan(root: Path, previous: TreeState | None = None, full_every: int = 10) -> tuple[TreeState, ScanStats]:
    """One tick over the tree at ``root``: the new state and what the tick cost.

    Folder keys are paths relative to ``root`` (``"."`` for the root). A folder that disappeared
    drops out of the state; hidden and temporary-named folders are never entered.
    """
    prev = previous or TreeState()
    tick = prev.tick + 1
    state = TreeState(tick=tick)
    stats = ScanStats()
    children: dict[str, list[str]] = {}
    for k in prev.folders:
        parent = _parent(k)
        if parent is not None:
            children.setdefault(parent, []).append(k)
    todo = [ROOT]
    while todo:
        key = todo.pop()
        path = root if key == ROOT else root / key
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            continue
        stats.folders += 1
        old = prev.folders.get(key)
        if old is not None and old.settled and old.mtime_ns == mtime and not _due(key, tick, full_every):
            state.folders[key] = old
            todo += children.get(key, [])  # the sub-folders its last listing found
            continue
        try:
            fingerprint, files, subfolders, statted = listing(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        stats.listed += 1
        stats.files += statted
        settled = old is not None and old.listing == fingerprint
        state.folders[key] = FolderState(mtime, fingerprint, files, settled, tick)
        todo += [name if key == ROOT else f"{key}/{name}" for name in subfolders]
    stats.pending = len(state.pending())
    return state, stats


def _parent(key: str) -> str | None:
    if key == ROOT:
        return None
    head, _, _ = key.rpartition("/")
    return head or ROOT
