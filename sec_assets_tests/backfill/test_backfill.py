"""``sec-assets backfill``: which asset partitions, how many runs (Dagster's own chunking by
``classes_per_run``), the record it submits, and an octave_spectrograms range in one run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from dagster import AssetKey, DagsterInstance, materialize

from sec_assets.backfill import plan as backfill
from sec_assets.core.store import catalog
from sec_assets.dagster_seam import BulkActionStatus
from sec_assets.definitions import defs
from sec_assets.defs import ALL_ASSETS
from sec_assets.partitions import CLASS_BACKFILL, class_backfill_policy
from sec_assets.resources import SecResource
from sec_assets.testing.signals import tone

CLASSES = [f"c{i:03d}" for i in range(40)]
BIN = Path(sys.executable).parent


@pytest.fixture
def instance(tmp_path):
    with DagsterInstance.local_temp(str(tmp_path)) as inst:
        inst.add_dynamic_partitions("audio_class", CLASSES)
        yield inst


def test_the_policy_is_multi_run_of_k_classes_or_one_run_for_k_0():
    assert class_backfill_policy(10).max_partitions_per_run == 10
    assert class_backfill_policy(0).max_partitions_per_run is None  # single_run
    spec = defs.resolve_asset_graph().get(AssetKey("octave_spectrograms"))
    assert spec.backfill_policy is not None  # was one run per class × octave


def _runs(the_plan, asset):
    return [(r.first, r.last) for r in the_plan.runs if asset in r.assets]


def test_everything_at_one_octave_is_ceil_n_over_k_runs_per_stage(instance):
    chosen, classes, octaves = backfill.targets(defs, instance, octaves=[3], exclude=["inbox_predictions"])
    assert classes == CLASSES and octaves == [3]
    names = {t.asset_key.to_user_string() for t in chosen}
    assert "inbox_predictions" not in names and "octave_comparison" not in names  # unpartitioned: not asked
    assert {t.partition_key for t in chosen if t.asset_key == AssetKey("trained_classifier")} == {"3"}
    the_plan = backfill.plan(defs, instance, chosen, len(classes), octaves)
    assert CLASS_BACKFILL.max_partitions_per_run == 25  # the default K, as the code location loaded
    # 40 classes, K = 25: two runs for the whole per-class chain, two for the spectrograms at 1/3
    per_class = [r for r in the_plan.runs if "raw_manifest" in r.assets]
    assert [r.assets for r in per_class] == [
        ("raw_manifest", "splits", "augmented_segments", "clap_embeddings")
    ] * 2
    assert _runs(the_plan, "raw_manifest") == [("c000", "c024"), ("c025", "c039")]
    assert _runs(the_plan, "octave_spectrograms") == [("c000|3", "c024|3"), ("c025|3", "c039|3")]
    assert _runs(the_plan, "trained_classifier") == [("3", "3")]
    assert len(the_plan.runs) == 5
    summary = "\n".join(the_plan.summary())
    assert "octave_spectrograms: 40 partition(s) → 2 run(s)" in summary
    assert "5 runs in all" in summary and "is 81 runs" in summary  # 40 + 40 + 1 in a per-partition loop


def test_a_class_subset_and_bad_names_fail_with_what_to_do(instance):
    chosen, classes, _ = backfill.targets(defs, instance, assets=["raw_manifest"], classes=["c003", "c001"])
    assert classes == ["c001", "c003"] and {t.partition_key for t in chosen} == {"c001", "c003"}
    with pytest.raises(backfill.BackfillError, match=r"\['nope'\] are not registered: run `sec-assets scan`"):
        backfill.targets(defs, instance, classes=["nope"])
    with pytest.raises(backfill.BackfillError, match=r"unknown asset\(s\) \['raw'\]; the assets are"):
        backfill.targets(defs, instance, assets=["raw"])
    with pytest.raises(backfill.BackfillError, match=r"octave\(s\) \[5\] are not partitions"):
        backfill.targets(defs, instance, octaves=[5])


def test_submit_records_a_requested_asset_backfill_of_exactly_those_partitions(instance):
    chosen, _, _ = backfill.targets(
        defs, instance, assets=["raw_manifest", "octave_spectrograms"], octaves=[1]
    )
    backfill_id = backfill.submit(defs, instance, chosen, "test backfill", tags={"who": "test"})
    record = instance.get_backfill(backfill_id)
    assert (
        record is not None and record.status == BulkActionStatus.REQUESTED and record.title == "test backfill"
    )
    subset = record.asset_backfill_data.target_subset
    assert set(subset.get_partitions_subset(AssetKey("raw_manifest")).get_partition_keys()) == set(CLASSES)
    spectro = set(subset.get_partitions_subset(AssetKey("octave_spectrograms")).get_partition_keys())
    assert spectro == {f"{c}|1" for c in CLASSES}
    assert backfill.progress(instance, backfill_id).line() == "backfill requested: runs no runs yet"
    assert backfill.daemon_age(instance) is None  # no daemon here


def test_the_command_prints_the_plan_and_submits_nothing_without_a_daemon(tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SEC_HOME": str(tmp_path / "sec"),
        "SEC_CLASSES_PER_RUN": "10",
    }
    with DagsterInstance.from_config(str(home)) as inst:
        inst.add_dynamic_partitions("audio_class", CLASSES)
    cmd = [str(BIN / "sec-assets"), "backfill", "--octave", "3"]
    dry = subprocess.run([*cmd, "--dry-run"], env=env, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "classes_per_run K = 10" in dry.stdout
    assert (
        "raw_manifest, splits, augmented_segments, clap_embeddings: 40 partition(s) → 4 run(s)" in dry.stdout
    )
    assert "octave_spectrograms: 40 partition(s) → 4 run(s)" in dry.stdout
    real = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert real.returncode == 2 and "no dagster-daemon serves this instance" in real.stderr
    assert "nothing was submitted" in real.stderr
    with DagsterInstance.from_config(str(home)) as inst:
        assert inst.get_backfills() == []


@pytest.mark.slow
def test_octave_spectrograms_over_a_range_is_one_run_writing_each_partition(
    tmp_path, make_settings, dagster_home
):
    root = tmp_path / "landing"
    for i, name in enumerate(["a", "b", "c"]):
        (root / name).mkdir(parents=True)
        for j in range(2):
            x = tone(300.0 * (i + 1) + 40 * j, 16000 * 2, 16000, 0.3).astype(np.float32)
            sf.write(root / name / f"r{j}.wav", x, 16000)
    settings = make_settings(root, octaves=(1, 3), target_sample_rate=16000, segment_seconds=1.0)
    sec = SecResource.from_settings(settings)
    with DagsterInstance.get() as inst:
        inst.add_dynamic_partitions("audio_class", ["a", "b", "c"])
        upstream = materialize(
            ALL_ASSETS,
            selection=["raw_manifest", "splits", "augmented_segments"],
            resources={"sec": sec},
            instance=inst,
            tags={"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "c"},
        )
        assert upstream.success
        result = materialize(
            ALL_ASSETS,
            selection=["octave_spectrograms"],
            resources={"sec": sec},
            instance=inst,
            tags={"dagster/asset_partition_range_start": "a|3", "dagster/asset_partition_range_end": "c|3"},
        )
    assert result.success
    mats = result.asset_materializations_for_node("octave_spectrograms")
    assert sorted(m.partition for m in mats) == ["a|3", "b|3", "c|3"]  # one event per partition
    meta = mats[0].metadata
    assert meta["partitions"].value == 3
    segments = catalog.query(
        settings.home, "SELECT partition_key, count(*) FROM segments GROUP BY 1 ORDER BY 1"
    ).rows()
    spectro = catalog.query(
        settings.home, "SELECT partition_key, octave, count(*) FROM spectrograms GROUP BY 1, 2 ORDER BY 1"
    ).rows()
    assert [(k, n) for k, _o, n in spectro] == segments and {o for _k, o, _n in spectro} == {3}
    lineage = catalog.query(
        settings.home,
        "SELECT partition_key, run_id FROM lineage WHERE asset = 'octave_spectrograms' ORDER BY 1",
    )
    assert lineage["partition_key"].to_list() == ["a|3", "b|3", "c|3"]
    assert lineage["run_id"].unique().to_list() == [result.run_id]
    table = meta["per_partition"].value
    assert all(f"| {k} |" in table.replace("\\|", "|") for k in ("a|3", "b|3", "c|3"))
