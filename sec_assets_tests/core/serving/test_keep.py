"""What the service keeps: corrections filed into the landing folder (or set aside, with the reason),
provenance beside them, the recent spool bounded, the review sample stable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sec_assets.core.audio.manifest import listed_files
from sec_assets.core.serving.keep import (
    Correction,
    Recent,
    in_review_sample,
    keep_for_review,
    write_correction,
)

CLASSES = {"noise_burst": "noise burst", "tone": "tone"}


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "recent" / "abc123.wav"
    path.parent.mkdir()
    path.write_bytes(b"RIFF-clip-bytes")
    return path


def _file(correction, clip, landing, tmp_path, new=False):
    answer = {"request_id": correction.request_id, "results": []}
    return write_correction(
        correction, clip, answer, landing, CLASSES, tmp_path / "aside", new, "2026-12-03T00:00:00+00:00"
    )


def test_a_correction_naming_a_class_lands_in_its_folder_with_provenance(clip, tmp_path):
    landing = tmp_path / "landing"
    for label in ("noise burst", "noise_burst"):  # the folder name or the class key
        kept = _file(Correction("abc123", label, octave=3, window_index=1), clip, landing, tmp_path)
        assert kept.into_training and kept.class_name == "noise burst"
        assert kept.path == landing / "noise burst" / "feedback-abc123.wav"
        assert kept.path.read_bytes() == b"RIFF-clip-bytes"
        record = json.loads(kept.provenance.read_text())
        assert record["label"] == label and record["octave"] == 3 and record["window_index"] == 1
        assert record["answer"]["request_id"] == "abc123"
    # the manifest lists the clip, never its provenance (hidden folder)
    assert listed_files(landing / "noise burst") == [kept.path]


def test_none_of_these_unknown_labels_and_tables_are_set_aside_with_the_reason(clip, tmp_path):
    landing = tmp_path / "landing"
    none = _file(Correction("abc123", None), clip, landing, tmp_path)
    assert not none.into_training and none.path.parent == tmp_path / "aside" / "none-of-these"
    owl = _file(Correction("abc123", "owl"), clip, landing, tmp_path)
    assert not owl.into_training and "feedback_new_classes is off" in owl.reason
    assert not (landing / "owl").exists()
    table = _file(Correction("abc123", "tone"), clip, None, tmp_path)
    assert not table.into_training and "dataset_table" in table.reason
    new = _file(Correction("abc123", "owl"), clip, landing, tmp_path, new=True)
    assert new.into_training and new.path == landing / "owl" / "feedback-abc123.wav"


@pytest.mark.parametrize("label", ["../escape", ".hidden", "a/b", "."])
def test_a_label_no_folder_can_be_named_is_refused(clip, tmp_path, label):
    with pytest.raises(ValueError, match="class folder"):
        _file(Correction("abc123", label), clip, tmp_path / "landing", tmp_path, new=True)


def test_the_recent_spool_keeps_the_newest(tmp_path):
    recent = Recent(tmp_path / "recent", keep=3)
    for i in range(5):
        (recent.folder / f"r{i}.wav").write_bytes(b"x")
        recent.remember(f"r{i}", {"i": i})
    assert sorted(p.name for p in recent.folder.iterdir()) == [
        "r2.json",
        "r2.wav",
        "r3.json",
        "r3.wav",
        "r4.json",
        "r4.wav",
    ]
    assert recent.answer("r4") == {"i": 4} and recent.clip("r4") == recent.folder / "r4.wav"
    assert recent.answer("r0") is None and recent.clip("../r4") is None
    again = Recent(tmp_path / "recent", keep=3)  # a restart knows the spool's order
    (again.folder / "r5.wav").write_bytes(b"x")
    again.remember("r5", {"i": 5})
    assert again.clip("r2") is None and again.clip("r5") is not None


def test_the_review_sample_is_a_stable_share(tmp_path, clip):
    ids = [f"{i:032x}" for i in range(4000)]
    chosen = [i for i in ids if in_review_sample(i, 0.05)]
    assert 160 <= len(chosen) <= 240  # 5 % of 4000 = 200
    assert chosen == [i for i in ids if in_review_sample(i, 0.05)]  # the same every time
    assert not any(in_review_sample(i, 0.0) for i in ids[:100])
    assert all(in_review_sample(i, 1.0) for i in ids[:100])
    kept = keep_for_review(tmp_path / "review", "2026-12-03", clip, {"request_id": "abc123"})
    assert kept.read_bytes() == clip.read_bytes()
    assert json.loads((kept.parent / "abc123.json").read_text()) == {"request_id": "abc123"}
