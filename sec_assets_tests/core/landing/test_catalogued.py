"""A class's first sight against the catalog: unchanged only when the manifest's own listing (hidden
files and the format filter as the manifest applies them) matches the stat cache of its last run
in paths, sizes and mtimes and the job's later steps were computed from the current manifest."""

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from sec_assets.core.audio.manifest import FilePolicy, rescan_class
from sec_assets.core.landing.catalogued import Verdict, compare, current_stats
from sec_assets.core.store import catalog, stat_cache
from sec_assets.core.store.schemas import AUDIO_CLASS
from sec_assets.testing.signals import tone

JOB = ["raw_manifest", "splits"]
WAV_ONLY = FilePolicy(formats=("wav",))


def _wav(path: Path, freq: float, seconds: float = 0.5) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(freq, int(16000 * seconds), 16000).astype(np.float32), 16000)


def _manifest(home: Path, class_dir: Path, run_id: str, policy: FilePolicy = WAV_ONLY) -> dict:
    """What ``raw_manifest`` writes for a class: its partition, stat cache and lineage row."""
    key = class_dir.name
    scan = rescan_class(class_dir, key, key, None, {}, None, policy)
    _, fingerprint, rows = catalog.write_table_partition(
        home, "raw_manifest", {AUDIO_CLASS: key}, scan.manifest
    )
    stat_cache.write(home, key, scan.stats)
    return _lineage(home, "raw_manifest", key, run_id, fingerprint, rows, [])


def _lineage(
    home: Path, asset: str, key: str, run_id: str, fingerprint: str, rows: int, inputs: list
) -> dict:
    catalog.record_lineage(
        home,
        asset=asset,
        partition_key=key,
        run_id=run_id,
        code_version="1",
        params={},
        inputs=inputs,
        output_fingerprint=fingerprint,
        rows=rows,
    )
    return {"asset": asset, "partition_key": key, "run_id": run_id, "output_fingerprint": fingerprint}


def _splits(home: Path, key: str, run_id: str, manifest_ref: dict) -> None:
    _lineage(home, "splits", key, run_id, f"splits-of-{manifest_ref['run_id']}", 2, [manifest_ref])


def _class(tmp_path: Path) -> tuple[Path, Path]:
    class_dir = tmp_path / "landing" / "dog"
    _wav(class_dir / "a.wav", 440)
    _wav(class_dir / "night" / "b.wav", 550)
    (class_dir / ".DS_Store").write_bytes(b"hidden")
    (class_dir / "notes.txt").write_text("not audio: the format filter leaves it out")
    return tmp_path / "home", class_dir


def test_a_class_as_its_manifest_recorded_it_is_unchanged_and_every_file_change_is_seen(tmp_path: Path):
    home, class_dir = _class(tmp_path)
    _splits(home, "dog", "run-2", _manifest(home, class_dir, "run-1"))
    assert current_stats(class_dir, WAV_ONLY) == stat_cache.read(home, "dog")
    assert sorted(stat_cache.read(home, "dog")) == ["a.wav", "night/b.wav"]
    assert compare(home, "dog", class_dir, WAV_ONLY, JOB) is Verdict.UNCHANGED
    # files the manifest does not list change nothing: hidden ones, and those the format filter drops
    (class_dir / ".partial.wav").write_bytes(b"p")
    (class_dir / "night" / "cover.jpg").write_bytes(b"jpg")
    assert compare(home, "dog", class_dir, WAV_ONLY, JOB) is Verdict.UNCHANGED
    # ... but without a filter the manifest lists them, so the same folder differs from its record
    assert compare(home, "dog", class_dir, FilePolicy(), JOB) is Verdict.FILES_CHANGED

    b = class_dir / "night" / "b.wav"
    st = b.stat()
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched: same size, new mtime
    assert compare(home, "dog", class_dir, WAV_ONLY, JOB) is Verdict.FILES_CHANGED
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert compare(home, "dog", class_dir, WAV_ONLY, JOB) is Verdict.UNCHANGED
    for change in ("grown", "added", "removed"):
        if change == "grown":
            _wav(class_dir / "a.wav", 440, seconds=0.6)
        elif change == "added":
            _wav(class_dir / "night" / "c.wav", 660)
        else:
            b.unlink()
        assert compare(home, "dog", class_dir, WAV_ONLY, JOB) is Verdict.FILES_CHANGED, change
        _splits(home, "dog", f"splits-after-{change}", _manifest(home, class_dir, f"manifest-{change}"))
        assert compare(home, "dog", class_dir, WAV_ONLY, JOB) is Verdict.UNCHANGED, change
    # a file that cannot be stat'ed (a broken link) has no stat to compare: a run decides, always
    (class_dir / "gone.wav").symlink_to(class_dir / "nowhere.wav")
    _splits(home, "dog", "splits-4", _manifest(home, class_dir, "manifest-4"))
    assert current_stats(class_dir, WAV_ONLY) is None
    assert compare(home, "dog", class_dir, WAV_ONLY, JOB) is Verdict.FILES_CHANGED
