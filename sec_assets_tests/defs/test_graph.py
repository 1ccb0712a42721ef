"""materialize()-level tests of the whole asset graph on generated audio."""

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from sec_assets.core.audio.keys import partition_key_for
from sec_assets.core.settings import load_settings
from sec_assets.core.store import catalog
from sec_assets.defs import ALL_ASSETS
from sec_assets.local_run import run_everything
from sec_assets.resources import SecResource

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def materialized(demo_dataset, model_store, tmp_path_factory):
    """The whole graph materialized once for this module (≈ 20 s). The tests below share it and
    run in file order: the read-only ones first; those that re-run steps leave the counts they
    re-run unchanged (asserted), and the last one changes the zero-shot row (a skipped baseline)."""
    root, truth = demo_dataset
    work = tmp_path_factory.mktemp("graph")
    (work / "dagster_home").mkdir()
    (work / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    settings = load_settings(
        env={},
        home=work / "home",
        audio_root=root,
        models=model_store,
        allow_random_init=True,
        bootstrap_resamples=50,
        octaves=(1, 3),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(work / "dagster_home"))
        run_everything(settings, log=False)
        yield settings, truth


def test_manifest_matches_the_generator_truth(materialized):
    settings, truth = materialized
    rows = catalog.query(settings.home, "SELECT * FROM audio_files ORDER BY path")
    assert rows.height == len(truth)  # one row per file; hidden files ignored
    by_path = {r["path"]: r for r in rows.iter_rows(named=True)}
    for t in truth:
        row = by_path[str(t.path)]
        assert row["audio_class"] == t.audio_class
        assert row["partition_key"] == partition_key_for(t.audio_class)
        if t.corrupt:
            assert row["status"] == "failed" and row["error"] and "decode" in row["error"]
            continue
        assert row["status"] == "ok" and row["error"] is None
        assert (row["sample_rate"], row["channels"], row["frames"]) == (
            t.sample_rate,
            t.channels,
            t.frames,
        )
        assert math.isclose(row["duration_s"], t.frames / t.sample_rate)
        assert len(row["sha256"]) == 64


def test_every_asset_is_catalogued_with_lineage(materialized):
    settings, truth = materialized
    home = settings.home
    n_ok = sum(not t.corrupt for t in truth)
    seg = catalog.query(
        home, "SELECT count(*) AS n, count(DISTINCT source_sha256) AS files FROM segments"
    ).row(0)
    assert seg[1] == n_ok and seg[0] >= n_ok
    emb = catalog.query(home, "SELECT embedding, random_init FROM embeddings")
    assert emb.height == seg[0] and all(emb["random_init"])
    vec = np.asarray(emb["embedding"][0])
    assert vec.shape == (1024,) and np.all(np.isfinite(vec))
    spec = catalog.query(
        home,
        "SELECT octave, count(*) AS n, max(n_bands) AS b FROM spectrograms GROUP BY 1 ORDER BY 1",
    )
    assert spec["n"].to_list() == [seg[0], seg[0]] and spec["b"].to_list() == [11, 31]
    leak = catalog.query(home, "SELECT source_sha256 FROM splits GROUP BY 1 HAVING count(DISTINCT split) > 1")
    assert leak.height == 0
    seg_leak = catalog.query(
        home, "SELECT source_sha256 FROM segments GROUP BY 1 HAVING count(DISTINCT split) > 1"
    )
    assert seg_leak.height == 0
    evals = catalog.query(home, "SELECT * FROM evaluations WHERE split = 'test' AND selected ORDER BY octave")
    assert evals.height == 2 and all(0.0 <= a <= 1.0 for a in evals["accuracy"])
    assert all(Path(p).is_file() for p in evals["report_path"])
    per_octave = catalog.query(
        home, "SELECT octave, count(*) FROM evaluations WHERE split = 'test' GROUP BY 1 ORDER BY 1"
    ).rows()
    assert per_octave == [(1, 5), (3, 5)]  # 4 candidates and the zero-shot baseline on the same test set
    for row in evals.iter_rows(named=True):
        lo, hi = row["macro_f1_ci_low"], row["macro_f1_ci_high"]
        assert 0.0 <= lo <= row["macro_f1"] <= hi <= 1.0
        png = Path(row["report_path"]).with_name("confusion_test.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert (width, height) == (575, 425)  # 5 classes: (4.25 + 1.5) × 4.25 in at 100 dpi
    # lineage: one row per (asset, partition), inputs pointing at real upstream runs
    lin = catalog.query(home, "SELECT asset, count(*) AS n FROM lineage GROUP BY 1 ORDER BY 1")
    expected = {
        "raw_manifest": 5,
        "augmented_segments": 5,
        "clap_embeddings": 5,
        "octave_spectrograms": 10,
        "splits": 5,
        "trained_classifier": 2,
        "evaluation_report": 2,
        "zero_shot_baseline": 1,
        "octave_comparison": 1,
    }
    assert dict(lin.iter_rows()) == expected
    # the octave comparison: every (octave, feature set) of the default candidates, with intervals
    comparison = catalog.query(home, "SELECT * FROM octave_comparison ORDER BY octave, feature_set")
    assert comparison.select("octave", "feature_set").rows() == [
        (n, f) for n in (1, 3) for f in ("clap", "clap+octave_stats", "octave_cnn", "octave_stats")
    ]
    assert all(
        lo <= f1 <= hi
        for lo, f1, hi in comparison.select(
            "test_macro_f1_ci_low", "test_macro_f1", "test_macro_f1_ci_high"
        ).rows()
    )
    assert comparison.filter(pl.col("selected")).height == 2  # each octave's model is on its line
    out = home / "reports" / "octave_comparison"
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "recommended: 1/" in (out / "comparison.md").read_text()
    # MLflow: a parent run per octave with a child per candidate; the selected model registered
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)  # not the global one
    runs = client.search_runs([client.get_experiment_by_name("sec_assets").experiment_id])
    assert len(runs) == 2 * (1 + 4)
    models = catalog.query(home, "SELECT octave, candidate, selected, mlflow_run_id FROM models")
    assert set(models["mlflow_run_id"]) <= {r.info.run_id for r in runs}
    for n in (1, 3):
        champion = client.get_model_version_by_alias(f"sec-classifier-oct{n}", "champion")
        assert (
            champion.tags["sec.candidate"]
            == models.filter((pl.col("octave") == n) & pl.col("selected"))["candidate"][0]
        )
    zs = catalog.query(home, "SELECT * FROM zero_shot").row(0, named=True)
    assert zs["status"] == "ok" and zs["n"] == seg[0] and zs["classes"] == 5
    assert 0.0 <= zs["accuracy"] <= 1.0 and 0.0 < zs["mean_average_precision"] <= 1.0
    assert zs["prompt"] == "this is the sound of {}" and Path(zs["report_path"]).is_file()
    emb_lineage = catalog.query(
        home, "SELECT params, inputs FROM lineage WHERE asset = 'clap_embeddings' LIMIT 1"
    ).row(0)
    params, inputs = json.loads(emb_lineage[0]), json.loads(emb_lineage[1])
    assert len(params["model_sha256"]) == 64 and params["random_init"] is True
    assert inputs[0]["asset"] == "augmented_segments" and inputs[0]["run_id"]
    # worked README query: which source files fed the classifier of octave 3
    fed = catalog.query(
        home,
        """
        SELECT DISTINCT a.path FROM models m
        JOIN splits s ON list_contains(m.classes, s.partition_key) AND s.split IN ('train', 'es')
        JOIN audio_files a ON a.sha256 = s.source_sha256
        WHERE m.octave = 3""",
    )
    assert 0 < fed.height < n_ok


def test_held_out_segments_are_clean_only_evaluation_reads_test_and_a_leak_fails_the_check(materialized):
    from sec_assets.core.audio.manifest import source_files
    from sec_assets.core.audio.segments import decode_audio, plan_class, segment_source
    from sec_assets.core.store import storage

    settings, _ = materialized
    home = settings.home
    rows = catalog.query(
        home,
        "SELECT split, bool_or(augmented), bool_and(augmented), max(noise_gain) FROM segments GROUP BY 1",
    ).rows()
    by_split = {r[0]: r[1:] for r in rows}
    assert {"train", "valid", "test"} <= set(by_split)  # 20 files: es may be empty by draw
    # training segments: augmented with probability 0.5 (some clean ones too); held-out: never
    assert by_split["train"][:2] == (True, False) and by_split["train"][2] > 0
    assert by_split["valid"] == by_split["test"] == (False, False, 0.0)
    # a test segment's stored audio is the resampled, windowed (repeat-padded) recording itself
    params = settings.segment_params()
    for key in ("tone", "chirp"):
        manifest = storage.read_partition(home, "raw_manifest", {"audio_class": key})
        stored = storage.read_partition(home, "augmented_segments", {"audio_class": key})
        held = stored.filter(pl.col("split").is_in(["valid", "test"]))
        for src in (s for s in source_files(manifest)[0] if s.sha256 in set(held["source_sha256"])):
            plan = plan_class([src], params, key)[src.sha256]
            clean = {seg.key: seg.audio for seg in segment_source(src, plan, key, params, augment=False)}
            for row in held.filter(pl.col("source_sha256") == src.sha256).iter_rows(named=True):
                expected = clean[row["segment_key"]].astype(np.float16).astype(np.float32)
                assert np.array_equal(decode_audio(row["audio"]), expected)
    # which splits each asset reads, from lineage: test only by evaluation_report
    reads = {
        asset: json.loads(params_json).get("splits_read")
        for asset, params_json in catalog.query(
            home, "SELECT DISTINCT asset, params FROM lineage WHERE params LIKE '%splits_read%'"
        ).rows()
    }
    assert reads == {"trained_classifier": ["train", "es", "valid"], "evaluation_report": ["valid", "test"]}
    # re-training with nothing changed: byte-identical model files for every candidate
    before = dict(catalog.query(home, "SELECT candidate, model_sha256 FROM models WHERE octave = 3").rows())
    with DagsterInstance.get() as instance:
        retrained = materialize(
            ALL_ASSETS,
            selection=["trained_classifier"],
            partition_key="3",
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
        )
    assert retrained.success
    after = dict(catalog.query(home, "SELECT candidate, model_sha256 FROM models WHERE octave = 3").rows())
    assert after == before and len(before) == 4
    # the evaluation's UI metadata: the Markdown carries the confusion matrix as an inline PNG (the
    # UI's Markdown renderer allows data: image sources), headline figures are numbers to plot
    with DagsterInstance.get() as instance:
        evaluated = materialize(
            ALL_ASSETS,
            selection=["evaluation_report"],
            partition_key="3",
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
        )
    meta = evaluated.asset_materializations_for_node("evaluation_report")[0].metadata
    assert "![confusion matrix, test](data:image/png;base64,iVBORw0KGgo" in meta["report"].value
    assert "| candidate | selected | valid macro-F1 |" in meta["report"].value
    for name in ("test_macro_f1", "test_macro_f1_ci_low", "test_macro_f1_ci_high", "test_mAP"):
        assert type(meta[name]).__name__ == "FloatMetadataValue", name
    # the check on splits: a crafted leak (a tone file listed in chirp's splits too) fails it
    tone = storage.read_partition(home, "splits", {"audio_class": "tone"})
    victim = tone.row(0, named=True)
    other = "valid" if victim["split"] != "valid" else "test"
    crafted = pl.DataFrame([{**victim, "partition_key": "chirp", "split": other}])
    chirp = storage.read_partition(home, "splits", {"audio_class": "chirp"})
    storage.write_partition(home, "splits", {"audio_class": "chirp"}, pl.concat([chirp, crafted]))
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["splits"],
            partition_key="click",
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
        )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert sorted(checks) == ["no_file_in_two_splits", "no_group_in_two_splits"]
    check = checks["no_file_in_two_splits"]
    assert not check.passed and check.description == "1 source files are in more than one split"
    assert checks["no_group_in_two_splits"].passed  # folder data without groups: nothing to leak
    assert victim["source_sha256"] in check.metadata["examples"].value
    storage.write_partition(home, "splits", {"audio_class": "chirp"}, chirp)  # put it back
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["splits"],
            partition_key="click",
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
        )
    assert all(c.passed for c in result.get_asset_check_evaluations())


def test_rematerializing_a_partition_leaves_counts_unchanged(materialized):
    settings, _ = materialized
    home = settings.home
    tables = [
        "audio_files",
        "segments",
        "embeddings",
        "spectrograms",
        "splits",
        "models",
        "evaluations",
        "lineage",
    ]
    before = {t: catalog.query(home, f'SELECT count(*) FROM "{t}"').item() for t in tables}
    fp_before = catalog.read_lineage(home, "augmented_segments", "tone")
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["raw_manifest", "augmented_segments"],
            partition_key="tone",
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
        )
    assert result.success
    after = {t: catalog.query(home, f'SELECT count(*) FROM "{t}"').item() for t in tables}
    assert after == before
    # nothing changed: each step keeps its partition, whose lineage still names the run that made it
    assert catalog.read_lineage(home, "augmented_segments", "tone") == fp_before
    mats = result.asset_materializations_for_node("raw_manifest")
    assert mats[0].metadata["files_failed"].value == 0 and mats[0].metadata["class_hours"].value > 0
    assert mats[0].metadata["unchanged"].value and mats[0].metadata["files_reread"].value == 0
    segments = result.asset_materializations_for_node("augmented_segments")[0].metadata
    assert segments["unchanged"].value and segments["computed_by_run"].value == fp_before["run_id"]


def test_embeddings_rerun_reuses_vectors_and_zero_shot_skips_without_text(materialized, tmp_path):
    import shutil

    import torch

    from sec_assets.core.features import clap_store

    settings, _ = materialized
    home = settings.home
    before = catalog.read_lineage(home, "clap_embeddings", "tone")
    sec = SecResource.from_settings(settings)
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["clap_embeddings"],
            partition_key="tone",
            resources={"sec": sec},
            instance=instance,
        )
        meta = result.asset_materializations_for_node("clap_embeddings")[0].metadata
        # same segments, same model and recipe: kept as it is, no segment read (the vector-level
        # reuse after a change is tested in test_incremental and core/features/test_embeddings)
        assert meta["unchanged"].value and meta["computed_by_run"].value == before["run_id"]
        assert meta["rows"].value == before["rows"] > 0
        assert (
            catalog.read_lineage(home, "clap_embeddings", "tone")["output_fingerprint"]
            == before["output_fingerprint"]
        )
        # a "real" store whose checkpoint has no text tower: the baseline is skipped, loudly
        random_files = clap_store.resolve_model_files(settings.model_store, allow_random_init=True)
        store = tmp_path / "store"
        real = store / clap_store.REAL_DIR
        shutil.copytree(random_files.text_model, real / "gpt2")
        state = torch.load(random_files.weights, map_location="cpu", weights_only=True)["model"]
        audio_only = {k: v for k, v in state.items() if not k.startswith("caption_encoder.")}
        torch.save({"model": audio_only}, real / clap_store.WEIGHTS_FILE)
        skipped = materialize(
            ALL_ASSETS,
            selection=["zero_shot_baseline"],
            resources={"sec": SecResource.from_settings(settings.model_copy(update={"models": store}))},
            instance=instance,
        )
    meta = skipped.asset_materializations_for_node("zero_shot_baseline")[0].metadata
    assert meta["status"].value == "skipped" and "text model unavailable" in meta["notice"].value
    row = catalog.query(home, "SELECT status, notice, n FROM zero_shot").row(0, named=True)
    assert row["status"] == "skipped" and "caption_encoder" in row["notice"] and row["n"] == 0
