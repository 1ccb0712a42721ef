"""The dataset source: classes from a table or folders, manifest entries with groups and folds,
clips inside a longer file (their own identity, only their own audio), and group splits that
every class's own step computes alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

from sec_assets.core.audio.manifest import FilePolicy, clip_id, entry_row, source_files
from sec_assets.core.audio.segments import SegmentParams, plan_class, segment_source
from sec_assets.core.audio.splits import assign_class_grouped, assign_groups
from sec_assets.core.datasets.source import DatasetSpec
from sec_assets.core.datasets.table import DatasetColumns, DatasetTableError
from sec_assets.core.hashing import file_sha256
from sec_assets.core.settings import SettingsError, load_settings
from sec_assets.core.store.schemas import TABLE_SCHEMAS
from sec_assets.testing.dataset_tables import ESC50_COLUMNS, FSDD_PATTERN, write_esc50_like

RATE = 8000


def test_a_table_gives_its_labels_as_classes_and_its_rows_as_entries(tmp_path: Path):
    table, audio = write_esc50_like(tmp_path, classes=4)
    spec = DatasetSpec(audio_root=audio, table=table, columns=ESC50_COLUMNS)
    assert spec.classes() == {k: k for k in ("cow", "dog", "pig", "rooster")}
    entries = spec.entries("dog")
    assert len(entries) == 21  # 20 clips + the quirk take of src_file 900001
    quirk = [e for e in entries if e.group == "900001"]
    assert [(e.fold, e.relative_path) for e in quirk] == [(1, "1-900001-A-0.wav")]
    assert all(e.path == audio / e.relative_path and e.table_row for e in entries)
    # the hash of a class's rows moves when one of its rows does, and only that class's
    before = {name: spec.rows_hash(name) for name in spec.classes().values()}
    frame = pl.read_csv(table, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.col("filename") == "2-100001-A-0.wav")
        .then(pl.lit("3"))
        .otherwise(pl.col("fold"))
        .alias("fold")
    )
    frame.write_csv(table)
    after = {name: spec.rows_hash(name) for name in spec.classes().values()}
    assert [n for n in before if before[n] != after[n]] == ["dog"]


def test_folder_entries_take_their_group_from_the_pattern(tmp_path: Path):
    for name in ("0_george_0.wav", "0_theo_1.wav", "0_x.wav", ".hidden.wav"):
        (tmp_path / "0").mkdir(exist_ok=True)
        sf.write(tmp_path / "0" / name, np.zeros(800, np.float32), RATE)
    spec = DatasetSpec(audio_root=tmp_path, group_pattern=FSDD_PATTERN)
    assert spec.classes() == {"0": "0"}
    assert [(e.relative_path, e.group) for e in spec.entries("0")] == [
        ("0_george_0.wav", "george"),
        ("0_theo_1.wav", "theo"),
        ("0_x.wav", None),
    ]


def test_a_broken_table_fails_class_discovery_with_its_row(tmp_path: Path):
    (tmp_path / "a.wav").write_bytes(b"")
    table = tmp_path / "t.csv"
    table.write_text("path,label\na.wav,dog\na.wav,cat\n")
    spec = DatasetSpec(audio_root=tmp_path, table=table)
    listed_twice = r"t\.csv: rows 1, 2, column 'path': the path 'a\.wav' is listed twice"
    with pytest.raises(DatasetTableError, match=listed_twice):
        spec.classes()


def test_a_clip_inside_a_longer_file_is_its_own_source_with_only_its_own_audio(tmp_path: Path):
    t = np.arange(3 * RATE) / RATE
    audio = np.where(t < 1.0, 0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 1000 * t))
    path = tmp_path / "long.wav"
    sf.write(path, audio.astype(np.float32), RATE, subtype="FLOAT")
    table = tmp_path / "t.csv"
    table.write_text(
        "path,label,start,end\nlong.wav,a,0,1\nlong.wav,b,1.0,2.5\nlong.wav,b,2.5,9\nlong.wav,b,4,5\n"
    )
    columns = DatasetColumns(path="path", label="label", start_s="start", end_s="end")
    spec = DatasetSpec(audio_root=tmp_path, table=table, columns=columns)
    rows = [entry_row(e, "b", "b", FilePolicy()) for e in spec.entries("b")]
    whole = file_sha256(path)
    first, tail, beyond = rows
    assert (first["status"], first["frames"], first["offset_frames"]) == ("ok", int(1.5 * RATE), RATE)
    assert first["sha256"] == clip_id(whole, RATE, int(2.5 * RATE)) != whole
    assert (tail["frames"], tail["duration_s"]) == (int(0.5 * RATE), 0.5)  # cut at the file's end
    assert beyond["status"] == "failed" and "at or after the end of the file" in beyond["error"]
    manifest = pl.DataFrame(rows, schema=TABLE_SCHEMAS["raw_manifest"])
    sources, _ = source_files(manifest)
    clip = next(s for s in sources if s.offset == RATE)
    params = SegmentParams(sample_rate=RATE, segment_seconds=0.5, hop_seconds=0.5, min_segment_seconds=0.1)
    plan = plan_class([clip], params, "b")
    segments = list(segment_source(clip, plan[clip.sha256], "b", params, augment=False))
    assert len(segments) == 3
    got = np.concatenate([s.audio for s in segments])
    np.testing.assert_allclose(got, audio[RATE : int(2.5 * RATE)], atol=1e-6)


def test_group_splits_are_the_same_whichever_class_computes_them():
    """Speakers shared by every class (FSDD) and a recordist shared by two of three classes: each
    class's own step, given the whole index, puts every group where the others put it."""
    files = pl.DataFrame(
        {
            "partition_key": ["a"] * 4 + ["b"] * 3 + ["c"] * 2,
            "source_sha256": [f"{k}{i}" for k, n in (("a", 4), ("b", 3), ("c", 2)) for i in range(n)],
            "group": ["g1", "g2", "g3", "g4", "g1", "g2", "g5", "g4", "g6"],
        }
    )
    fractions = {"train": 0.5, "es": 0.1, "valid": 0.2, "test": 0.2}
    index = files.select("partition_key", "group").unique()
    together, _ = assign_groups(files, fractions, seed=3)
    split_of = {}
    for key in ("a", "b", "c"):
        alone, _ = assign_class_grouped(files.filter(pl.col("partition_key") == key), index, fractions, 3)
        for group, split in alone.select("group", "split").iter_rows():
            assert split_of.setdefault(group, split) == split, group
    assert split_of == dict(together.select("group", "split").unique().iter_rows())


def test_dataset_settings_are_checked_where_they_enter(tmp_path: Path):
    with pytest.raises(SettingsError, match="group_pattern"):
        load_settings(env={}, group_pattern="(unclosed")
    with pytest.raises(SettingsError, match="test_fold needs a dataset_table"):
        load_settings(env={}, test_fold=1)
    with pytest.raises(SettingsError, match=r"dataset_columns\.fold"):
        load_settings(env={}, dataset_table=tmp_path / "t.csv", test_fold=1)
    with pytest.raises(SettingsError, match="valid_fold and test_fold are both 2"):
        load_settings(
            env={},
            dataset_table=tmp_path / "t.csv",
            dataset_columns='{"path": "f", "label": "l", "fold": "k"}',
            test_fold=2,
            valid_fold=2,
        )
    with pytest.raises(SettingsError, match=r"dataset_columns\.end_s is required"):
        load_settings(env={}, dataset_columns={"path": "f", "label": "l", "start_s": "s"})
    settings = load_settings(env={"SEC_DATASET_TABLE": str(tmp_path / "t.csv")})
    assert settings.dataset().table == tmp_path / "t.csv"


def test_an_urbansound8k_shaped_table_finds_its_slices_through_a_path_template(tmp_path: Path):
    """UrbanSound8K keeps fold k's slices in ``audio/fold{k}/`` while its table names the file
    alone; ``start``/``end`` locate the slice in the Freesound recording, not in the file, so they
    stay metadata."""
    rows = []
    for fold in (1, 2):
        for fs_id, label in ((100032, "dog_bark"), (100263, "children_playing")):
            name = f"{fs_id}-1-{fold}-0.wav"
            (tmp_path / f"fold{fold}").mkdir(exist_ok=True)
            sf.write(tmp_path / f"fold{fold}" / name, np.zeros(800, np.float32), RATE)
            rows.append(f"{name},{fs_id},0.0,0.5,1,{fold},3,{label}")
    table = tmp_path / "UrbanSound8K.csv"
    table.write_text("slice_file_name,fsID,start,end,salience,fold,classID,class\n" + "\n".join(rows) + "\n")
    columns = DatasetColumns(path="fold{fold}/{slice_file_name}", label="class", group="fsID", fold="fold")
    spec = DatasetSpec(audio_root=tmp_path, table=table, columns=columns)
    assert spec.classes() == {"children_playing": "children_playing", "dog_bark": "dog_bark"}
    entries = spec.entries("dog_bark")
    assert [(e.relative_path, e.group, e.fold) for e in entries] == [
        ("fold1/100032-1-1-0.wav", "100032", 1),
        ("fold2/100032-1-2-0.wav", "100032", 2),
    ]
    assert all(e.path.is_file() and e.clip_start_s is None for e in entries)
    bad = DatasetSpec(
        audio_root=tmp_path, table=table, columns=DatasetColumns(path="fold{fold:02d}/{x}", label="class")
    )
    with pytest.raises(DatasetTableError, match=r"no column 'x' \(path\)"):
        bad.classes()
    spec_bad = DatasetColumns(path="fold{fold!r}/{slice_file_name}", label="class")
    with pytest.raises(DatasetTableError, match="a template names whole columns only"):
        DatasetSpec(audio_root=tmp_path, table=table, columns=spec_bad).classes()
