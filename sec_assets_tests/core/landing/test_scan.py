"""The stability rule: folders settle one tick after their listing stops changing; quiet trees
are checked by stat'ing folders, not files."""

import os
from pathlib import Path

from sec_assets.core.landing.scan import ROOT, TreeState, scan


def _tree(root: Path) -> None:
    for cls in ("dog", "cat"):
        (root / cls / "night").mkdir(parents=True)
        for i in range(3):
            (root / cls / f"{i}.wav").write_bytes(b"x" * (10 + i))
        (root / cls / "night" / "n.wav").write_bytes(b"n")


def _tick(root: Path, state: TreeState | None, full_every: int = 0):
    # every tick goes through the cursor's JSON, as the sensor's do
    new, stats = scan(root, TreeState.from_json(state.to_json()) if state else None, full_every)
    return new, stats


def test_a_new_tree_settles_one_tick_later_and_a_quiet_tick_stats_no_files(tmp_path: Path):
    _tree(tmp_path)
    first, stats = _tick(tmp_path, None)
    assert sorted(first.folders) == [ROOT, "cat", "cat/night", "dog", "dog/night"]
    assert first.pending() == sorted(first.folders) and not first.settled()
    assert (stats.folders, stats.listed, stats.files) == (5, 5, 8)
    second, stats = _tick(tmp_path, first)
    assert second.pending() == [] and stats.files == 8  # read again to confirm
    assert second.folders["dog"].files == 3 and second.folders[ROOT].files == 0
    third, stats = _tick(tmp_path, second)
    assert (stats.folders, stats.listed, stats.files) == (5, 0, 0)
    assert third.folders == second.folders and third.tick == 3


def test_a_growing_file_keeps_its_folder_waiting_and_a_temporary_name_is_invisible(tmp_path: Path):
    _tree(tmp_path)
    state, _ = _tick(tmp_path, _tick(tmp_path, None)[0])
    settled_dog = state.folders["dog"].listing
    growing = tmp_path / "dog" / "long.wav"
    for size in (100, 200, 300):
        growing.write_bytes(b"g" * size)
        state, _ = _tick(tmp_path, state)
        assert state.pending() == ["dog"], size
    state, _ = _tick(tmp_path, state)  # unchanged for one tick: settled, with the new file
    assert state.pending() == [] and state.folders["dog"].files == 4
    assert state.folders["dog"].listing != settled_dog
    # a download under a temporary name, then renamed: waits only after the rename
    part = tmp_path / "cat" / "song.wav.part"
    part.write_bytes(b"p" * 50)
    before = state.folders["cat"]
    state, _ = _tick(tmp_path, state)
    state, _ = _tick(tmp_path, state)
    assert state.folders["cat"].settled and state.folders["cat"].listing == before.listing
    part.rename(tmp_path / "cat" / "song.wav")
    state, _ = _tick(tmp_path, state)
    assert state.pending() == ["cat"]
    (tmp_path / "cat" / ".hidden.wav").write_bytes(b"h")
    state, _ = _tick(tmp_path, state)
    assert state.pending() == [] and state.folders["cat"].files == 4


def test_deletions_and_new_folders_are_seen(tmp_path: Path):
    _tree(tmp_path)
    state, _ = _tick(tmp_path, _tick(tmp_path, None)[0])
    (tmp_path / "dog" / "0.wav").unlink()
    for f in (tmp_path / "cat" / "night").iterdir():
        f.unlink()
    (tmp_path / "cat" / "night").rmdir()
    (tmp_path / "bird" / "dawn").mkdir(parents=True)
    (tmp_path / "bird" / "dawn" / "b.wav").write_bytes(b"b")
    state, _ = _tick(tmp_path, state)
    assert "cat/night" not in state.folders
    # a folder's listing is its files: the root and cat only gained or lost sub-folders
    assert state.pending() == ["bird", "bird/dawn", "dog"]
    state, _ = _tick(tmp_path, state)
    assert state.pending() == [] and state.folders["dog"].files == 2


def test_a_file_rewritten_in_place_is_found_by_the_rolling_check(tmp_path: Path):
    _tree(tmp_path)
    state, _ = _tick(tmp_path, _tick(tmp_path, None)[0], full_every=3)
    folder = tmp_path / "dog"
    dir_mtime = folder.stat().st_mtime_ns
    target = folder / "1.wav"
    with target.open("r+b") as f:  # same name, same size: only the file's own mtime moves
        f.write(b"Z")
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    assert folder.stat().st_mtime_ns == dir_mtime  # the folder does not show it
    ticks = 0
    while not state.pending():
        state, _ = _tick(tmp_path, state, full_every=3)
        ticks += 1
        assert ticks <= 3
    assert state.pending() == ["dog"]
    state, _ = _tick(tmp_path, state, full_every=3)
    assert state.pending() == []
    # quiet ticks: the rolling check reads each of the 5 folders once every 3 ticks
    listed = 0
    for _ in range(3):
        state, stats = _tick(tmp_path, state, full_every=3)
        listed += stats.listed
    assert listed == 5 and state.pending() == []


def test_the_state_round_trips_and_stays_small(tmp_path: Path):
    for i in range(1000):
        (tmp_path / f"class_{i:04d}").mkdir()
        (tmp_path / f"class_{i:04d}" / "a.wav").write_bytes(b"a")
    state, _ = scan(tmp_path)
    text = state.to_json()
    assert TreeState.from_json(text) == state
    assert len(text) < 80 * 1001  # one short entry per folder, none per file
    assert TreeState.from_json(None) == TreeState() and TreeState.from_json("") == TreeState()
