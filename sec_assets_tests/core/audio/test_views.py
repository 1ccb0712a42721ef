"""The two views of a file's segments: with ``both`` every window's clean cut is stored and its
augmented variant beside it, the variant's bytes are those ``by_split`` stores for a training
file, and the keys alone tell every reader which rows are which view."""

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

from sec_assets.core.audio.audio_io import probe
from sec_assets.core.audio.segments import (
    SegmentParams,
    SourceFile,
    plan_class,
    regenerate_segment,
    segment_source,
)
from sec_assets.core.audio.views import is_variant, parse_segment_key, view_masks, window_key
from sec_assets.testing.signals import tone

RATE = 8000


def _source(tmp_path: Path) -> SourceFile:
    path = tmp_path / "a.wav"
    sf.write(path, tone(440, 5 * RATE, RATE, amplitude=0.4), RATE)
    info = probe(path)
    return SourceFile(path, hashlib.sha256(path.read_bytes()).hexdigest(), info.sample_rate, info.frames)


def test_both_views_store_the_clean_cut_and_the_same_variant(tmp_path: Path):
    src = _source(tmp_path)
    # 5 windows of 1 s in round 0; a target of 8 adds a second round at an offset
    params = SegmentParams(sample_rate=RATE, segment_seconds=1.0, hop_seconds=1.0, target_segments=8)
    plan = plan_class([src], params, "c")[src.sha256]
    assert sorted({w.round for w in plan}) == [0, 1]
    training = list(segment_source(src, plan, "c", params, augment=True))
    both = list(segment_source(src, plan, "c", params, augment=True, both=True))
    held_out = list(segment_source(src, [w for w in plan if w.round == 0], "c", params, augment=False))

    augmented = [s for s in training if s.augmented]
    assert 0 < len(augmented) < len(training)
    variants = [s for s in both if is_variant(s.key)]
    # every augmented window is a variant, with the bytes by_split stores under the window's key
    assert [window_key(s.key) for s in variants] == [s.key for s in augmented]
    for v, a in zip(variants, augmented, strict=True):
        assert v.augmented and np.array_equal(v.audio, a.audio) and v.seed == a.seed
    # the clean cuts of round 0 are the held-out file's segments, byte for byte
    clean0 = [s for s in both if not is_variant(s.key) and s.round == 0]
    assert [s.key for s in clean0] == [s.key for s in held_out]
    for c, h in zip(clean0, held_out, strict=True):
        assert not c.augmented and np.array_equal(c.audio, h.audio)
    # later rounds are training only: no clean cut where the window was augmented
    later = {s.key for s in both if s.round == 1 and not is_variant(s.key)}
    assert later == {s.key for s in training if s.round == 1 and not s.augmented}

    keys = [s.key for s in both]
    train_mask, clean_mask = view_masks(keys)
    assert [k for k, m in zip(keys, train_mask, strict=True) if m] == [
        (s.key + "~aug" if s.augmented else s.key) for s in training
    ]
    assert [k for k, m in zip(keys, clean_mask, strict=True) if m] == [s.key for s in held_out]
    # by_split's own keys: every training row is training, every held-out row is clean
    assert view_masks([s.key for s in training])[0].all()
    assert view_masks([s.key for s in held_out])[1].all()

    # a variant is rebuilt from its key and the source file alone
    v = variants[-1]
    assert parse_segment_key(v.key)[2:] == (v.round, v.index)
    again = regenerate_segment(v.key, src, params, augment=True)
    assert again.key == v.key and np.array_equal(again.audio, v.audio)
    assert dataclasses.replace(again, audio=v.audio) == dataclasses.replace(v, audio=v.audio)
