"""A batch of requests scored in one pass: each request gets exactly what scoring it alone gives
(a clip posted twice shares its windows), its answer's top-k per window and per clip, its
served-request rows; posted clips are refused with the manifest's reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sec_assets.core.audio.manifest import FilePolicy
from sec_assets.core.audio.segments import SegmentParams
from sec_assets.core.features import clap, clap_store
from sec_assets.core.features.spectrogram import LevelParams
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.windows import WindowParams
from sec_assets.core.serving.answer import answer, log_rows, score_batch
from sec_assets.core.serving.clips import ClipLimits, ClipRefused, clip_windows, suffix_for, take_clip
from sec_assets.core.serving.models import ServedModels
from sec_assets.testing.signals import chirp, tone
from sec_assets.testing.tiny_champion import tiny_champion

RATE = 16000
LIMITS = ClipLimits(max_bytes=2_000_000, max_seconds=30.0)


def _wav(x: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, x, RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def served(model_store: Path, tmp_path_factory: pytest.TempPathFactory):
    torch.set_num_threads(2)
    spool = tmp_path_factory.mktemp("spool")
    params = WindowParams().segment_params(SegmentParams(sample_rate=RATE))
    featurizer = Featurizer(
        clap.load_clap(clap_store.resolve_model_files(model_store, allow_random_init=True), device="cpu"),
        [LevelParams(n=3, sample_rate=RATE)],
    )
    first = take_clip(_wav(tone(700.0, 6 * RATE, RATE, 0.3)), ".wav", "seed", spool, FilePolicy(), LIMITS)
    features, _ = featurizer.features(clip_windows(first, params))
    champion = tiny_champion(features[3], 3)
    names = {"a": "Alpha", "b": "Beta", "c": "c", "d": "d"}
    return ServedModels((champion,), (), featurizer, params, "setting", None, names), spool


def test_a_batch_gives_each_request_what_scoring_it_alone_gives(served):
    models, spool = served
    clips = {
        "r1": take_clip(_wav(tone(440.0, 12 * RATE, RATE, 0.3)), ".wav", "r1", spool, FilePolicy(), LIMITS),
        "r2": take_clip(
            _wav(chirp(200.0, 2000.0, 3 * RATE, RATE)), ".wav", "r2", spool, FilePolicy(), LIMITS
        ),
    }
    clips["r3"] = take_clip(clips["r1"].path.read_bytes(), ".wav", "r3", spool, FilePolicy(), LIMITS)  # again
    items = [(models, clip_windows(c, models.params)) for c in clips.values()]
    assert [rows.height for _, rows in items] == [3, 1, 3]
    together = score_batch(items)
    alone = [score_batch([item])[0] for item in items]
    for a, b in zip(together, alone, strict=True):
        (pa,), (pb,) = a.parts, b.parts
        np.testing.assert_array_equal(pa.proba, pb.proba)
        assert pa.windows.equals(pb.windows)
    np.testing.assert_array_equal(together[0].parts[0].proba, together[2].parts[0].proba)
    body = answer(together[0], k=2, min_confidence=0.0)
    (result,) = body["results"]
    assert (result["octave"], result["model"], result["model_version"]) == (3, "tiny", "1")
    assert [w["index"] for w in result["windows"]] == [0, 1, 2]
    assert [(w["start_s"], w["end_s"]) for w in result["windows"]] == [(0.0, 5.0), (5.0, 10.0), (10.0, 12.0)]
    proba = together[0].parts[0].proba
    for w, p in zip(result["windows"], proba, strict=True):
        best = int(np.argmax(p))
        assert w["labels"][0]["label_key"] == "abcd"[best] and w["labels"][0]["probability"] == p[best]
        assert w["labels"][0]["label"] == {"a": "Alpha", "b": "Beta"}.get("abcd"[best], "abcd"[best])
        assert len(w["labels"]) == 2
    mean = proba.mean(axis=0)
    assert result["labels"][0]["probability"] == pytest.approx(mean.max(), abs=0)
    rows = log_rows(together[0], "r1", None, "2026-12-03", 12.5)
    assert [r["window_index"] for r in rows] == [0, 1, 2]
    assert [r["top1_probability"] for r in rows] == [float(p.max()) for p in proba]
    assert {r["shadow_version"] for r in rows} == {None}
    assert rows[0]["window_seconds"] == 5.0 and rows[0]["latency_ms"] == 12.5


def test_posted_clips_are_refused_with_the_manifests_reasons(served, tmp_path):
    models, _ = served
    refusals = {
        "empty": (b"", ".wav", 400, "empty body"),
        "big": (b"x" * 2_000_001, ".wav", 413, "serve_max_upload_mb"),
        "text": (b"hello, not audio at all" * 10, ".wav", 422, "not a usable clip"),
        "type": (_wav(tone(440.0, RATE, RATE)), ".bin", 415, "Content-Type"),
        "long": (_wav(tone(440.0, 31 * RATE, RATE)), ".wav", 413, "serve_max_clip_seconds"),
        "too short": (_wav(tone(440.0, RATE // 20, RATE)), ".wav", 422, "min_clip_seconds"),
    }
    for name, (data, suffix, status, words) in refusals.items():
        with pytest.raises(ClipRefused) as caught:
            take_clip(data, suffix, name, tmp_path, FilePolicy(), LIMITS)
        assert caught.value.status == status and words in caught.value.reason, name
    assert list(tmp_path.iterdir()) == []  # nothing refused is kept
    short = take_clip(
        _wav(tone(440.0, RATE // 2, RATE, 0.3)), ".wav", "short", tmp_path, FilePolicy(), LIMITS
    )
    (window,) = clip_windows(short, models.params).iter_rows(named=True)  # repeat-padded, as training
    assert (window["start_s"], window["end_s"], window["padded"]) == (0.0, 0.5, True)


def test_the_suffix_comes_from_the_name_then_the_type():
    assert suffix_for("Dawn Chorus.FLAC", None) == ".flac"
    assert suffix_for(None, "audio/ogg; codecs=vorbis") == ".ogg"
    assert suffix_for(None, "audio/mpeg") == ".mp3"
    assert suffix_for(None, None) == ".bin"
    assert suffix_for("../../etc/passwd", None) == ".bin"
    assert suffix_for("clip.w@v", "audio/wav") == ".bin"
