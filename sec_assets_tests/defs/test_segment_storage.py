"""segment_storage: recipe — segments stored as recipes and regenerated on read give the very
bytes, embeddings and spectrograms of stored PCM, in a fraction of the space; a source file
changed or gone since is a clear error, never a different segment."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf
from dagster import DagsterEventType, DagsterInstance, materialize

from sec_assets.core.audio import stored
from sec_assets.core.audio.segments import SegmentParams
from sec_assets.core.settings import load_settings
from sec_assets.core.store import catalog, storage
from sec_assets.defs import ALL_ASSETS
from sec_assets.instance import register_classes
from sec_assets.resources import SecResource
from sec_assets.testing.signals import tone

pytestmark = pytest.mark.slow
STEPS = ["raw_manifest", "splits", "augmented_segments", "clap_embeddings"]
SEGMENT_COLUMNS = ["segment_key", "round", "index", "start_s", "seed", "gain_db", "split", "augmented"]


def _class(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    for i in range(4):
        x = tone(500.0 * (1 + 0.1 * i), 16000 * 3, 16000, 0.3) + 0.02 * rng.standard_normal(48000)
        sf.write(folder / f"rec_{i}.wav", x.astype(np.float32), 16000, subtype="PCM_16")


def _settings(tmp_path: Path, model_store: Path, mode: str):
    return load_settings(
        env={},
        home=tmp_path / mode,
        audio_root=tmp_path / "landing",
        models=model_store,
        allow_random_init=True,
        octaves=(3,),
        target_sample_rate=16000,
        segment_seconds=1.0,
        target_segments_per_class=8,  # extra rounds at random offsets: the recipe holds the round
        gain_db_range=(-6.0, 6.0),
        time_shift_seconds=0.2,
        segment_storage=mode,
    )


def _materialize(settings, selection: list[str], key: str, ok: bool = True):
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=selection,
            partition_key=key,
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
            raise_on_error=ok,
        )
    assert result.success == ok
    return result


def _failure(result) -> str:
    (event,) = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    return event.step_failure_data.error.message


def test_recorded_parameters_round_trip():
    params = SegmentParams(16000, 1.0, 0.5, gain_db_range=(-3.0, 2.0), channel=1, target_segments=9)
    assert stored.lineage_segment_params(catalog.params_json(vars(params))) == params
    extra = {**vars(dataclasses.replace(params, channel="mean")), "storage": "recipe"}
    assert stored.lineage_segment_params(catalog.params_json(extra)).channel == "mean"


def test_recipes_regenerate_the_stored_bytes_and_fail_clearly_when_a_source_changes(
    tmp_path, model_store, dagster_home
):
    _class(tmp_path / "landing" / "birds")
    homes = {}
    for mode in ("pcm", "recipe"):
        settings = _settings(tmp_path, model_store, mode)
        register_classes(settings)
        _materialize(settings, STEPS, "birds")
        _materialize(settings, ["octave_spectrograms"], "birds|3")
        homes[mode] = settings.home
    pcm, recipe = homes["pcm"], homes["recipe"]

    rows = {
        m: storage.read_partition(h, "augmented_segments", {"audio_class": "birds"}) for m, h in homes.items()
    }
    assert (
        rows["pcm"].height == rows["recipe"].height == 14
    )  # 8 for train/es files over rounds, valid/test once
    assert rows["recipe"]["round"].max() >= 1 and rows["recipe"]["augmented"].any()
    assert (
        rows["pcm"]
        .select(SEGMENT_COLUMNS, "audio_sha256")
        .equals(rows["recipe"].select(SEGMENT_COLUMNS, "audio_sha256"))
    )
    assert rows["recipe"]["audio"].null_count() == 14 and rows["pcm"]["audio"].null_count() == 0
    size = {
        m: sum(
            p.stat().st_size
            for p in storage.partition_files(h, "augmented_segments", {"audio_class": "birds"})
        )
        for m, h in homes.items()
    }
    assert size["recipe"] * 20 < size["pcm"], size  # 14 × 32 KB of PCM against a few KB of recipes
    lineage = catalog.read_lineage(recipe, "augmented_segments", "birds")
    assert lineage is not None and json.loads(lineage["params"])["storage"] == "recipe"

    def audio(home: Path) -> dict[str, bytes]:
        batches = stored.iter_segment_batches(
            home, "birds", 7, ["segment_key", "audio"]
        )  # files span batches
        return {k: a for b in batches for k, a in zip(b["segment_key"], b["audio"], strict=True)}

    assert audio(recipe) == audio(pcm)  # byte for byte, regenerated
    assert all(
        stored.audio_digest(a) == d
        for a, d in zip(rows["pcm"]["audio"], rows["pcm"]["audio_sha256"], strict=True)
    )
    for sql in (
        "SELECT segment_key, segment_hash, embedding FROM embeddings ORDER BY 1",
        "SELECT segment_key, levels_db FROM spectrograms ORDER BY 1",
    ):
        assert catalog.query(recipe, sql).equals(catalog.query(pcm, sql)), sql

    # a source file rewritten since: the spectrograms' read fails naming it, nothing is written
    source = tmp_path / "landing" / "birds" / "rec_0.wav"
    sf.write(source, np.zeros(48000, dtype=np.float32) + 0.1, 16000, subtype="PCM_16")
    dims = {"audio_class": "birds", "octave": "3"}
    before = storage.partition_files(recipe, "octave_spectrograms", dims)
    storage.remove_partition(recipe, "octave_spectrograms", dims)  # so the step has to read again
    message = _failure(
        _materialize(_settings(tmp_path, model_store, "recipe"), ["octave_spectrograms"], "birds|3", ok=False)
    )
    assert "rec_0.wav" in message and "differs from the one recorded" in message, message
    assert "re-materialize augmented_segments for class 'birds'" in message and before
    assert storage.partition_files(recipe, "octave_spectrograms", dims) == []
    source.unlink()
    message = _failure(
        _materialize(_settings(tmp_path, model_store, "recipe"), ["octave_spectrograms"], "birds|3", ok=False)
    )
    assert "rec_0.wav is gone" in message, message
    assert len(audio(pcm)) == 14  # PCM needs no source file


def test_recipes_regenerate_both_views(tmp_path, model_store, dagster_home):
    """With segment_views: both a window can be stored twice (clean cut and variant): recipes
    rebuild each from its own key, byte for byte."""
    _class(tmp_path / "landing" / "birds")
    homes = {}
    for mode in ("pcm", "recipe"):
        settings = _settings(tmp_path, model_store, mode).model_copy(update={"segment_views": "both"})
        register_classes(settings)
        _materialize(settings, ["raw_manifest", "splits", "augmented_segments"], "birds")
        homes[mode] = settings.home
    rows = storage.read_partition(homes["recipe"], "augmented_segments", {"audio_class": "birds"})
    variants = rows.filter(pl.col("segment_key").str.ends_with("~aug"))
    assert variants.height and variants["augmented"].all()
    assert rows.filter(pl.col("augmented")).height == variants.height
    lineage = catalog.read_lineage(homes["recipe"], "augmented_segments", "birds")
    assert json.loads(lineage["params"])["segment_views"] == "both"

    def audio(home: Path) -> dict[str, bytes]:
        batches = stored.iter_segment_batches(home, "birds", 5, ["segment_key", "audio"])
        return {k: a for b in batches for k, a in zip(b["segment_key"], b["audio"], strict=True)}

    made = audio(homes["recipe"])
    assert len(made) == rows.height and made == audio(homes["pcm"])
