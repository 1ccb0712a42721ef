"""The asset graph as a reviewed snapshot: a change to keys, deps, partitions, requests,
descriptions, kinds, code versions, backfill or retry policies or asset checks is a diff of
``asset_specs.json``.

After an intended change: ``SEC_UPDATE_SNAPSHOT=1 .venv/bin/pytest sec_assets_tests/defs`` and
review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dagster import (
    AssetsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

SNAPSHOT = Path(__file__).with_name("asset_specs.json")


def _partitions(pd: Any) -> Any:
    if pd is None:
        return None
    if isinstance(pd, MultiPartitionsDefinition):
        return {"multi": {d.name: _partitions(d.partitions_def) for d in pd.partitions_defs}}
    if isinstance(pd, DynamicPartitionsDefinition):
        return {"dynamic": pd.name}
    if isinstance(pd, StaticPartitionsDefinition):
        return {"static": pd.get_partition_keys()}
    return {type(pd).__name__: repr(pd)}


def _mapping(m: Any) -> Any:
    if m is None:
        return None
    fields = (
        {k: v for k, v in sorted(vars(m).items()) if not k.startswith("_")} if hasattr(m, "__dict__") else {}
    )
    if not fields and hasattr(m, "_asdict"):
        fields = dict(m._asdict())
    return {"type": type(m).__name__, **{k: str(v) for k, v in fields.items()}}


def asset_specs(assets: list[AssetsDefinition]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in assets:
        for key in a.keys:
            spec = a.specs_by_key[key]
            bp = a.backfill_policy
            rp = a.op.retry_policy
            out[key.to_user_string()] = {
                "group": a.group_names_by_key[key],
                "kinds": sorted(spec.kinds),
                "description": spec.description,
                "code_version": spec.code_version,
                "partitions": _partitions(a.partitions_def),
                "deps": {
                    d.asset_key.to_user_string(): _mapping(d.partition_mapping)
                    for d in sorted(spec.deps, key=lambda d: d.asset_key.to_user_string())
                },
                "op_tags": dict(sorted((a.op.tags or {}).items())),
                "backfill_policy": None
                if bp is None
                else {"type": bp.policy_type.value, "max_partitions_per_run": bp.max_partitions_per_run},
                "retry_policy": None if rp is None else {"max_retries": rp.max_retries, "delay": rp.delay},
                "checks": {
                    c.name: c.description
                    for c in sorted(a.check_specs, key=lambda c: c.name)
                    if c.asset_key == key
                },
            }
    return dict(sorted(out.items()))


def test_asset_specs_match_the_reviewed_snapshot():
    from sec_assets.defs import ALL_ASSETS

    current = asset_specs(ALL_ASSETS)
    if os.environ.get("SEC_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n")
    assert current == json.loads(SNAPSHOT.read_text()), (
        "the asset graph changed: review it, then SEC_UPDATE_SNAPSHOT=1 to record it"
    )


def test_each_stage_is_one_asset_group_and_definitions_compose_them_all():
    from sec_assets.definitions import defs
    from sec_assets.defs import ALL_ASSETS, STAGES

    groups = {a.key.to_user_string(): a.group_names_by_key[a.key] for a in ALL_ASSETS}
    assert groups == {
        "raw_manifest": "ingest",
        "augmented_segments": "ingest",
        "clap_embeddings": "features",
        "octave_spectrograms": "features",
        "splits": "ingest",
        "trained_classifier": "training",
        "evaluation_report": "evaluation",
        "zero_shot_baseline": "evaluation",
        "octave_comparison": "evaluation",
        "inbox_predictions": "inference",
        "prediction_drift": "monitoring",
    }
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == set(groups)
    assert [s.__name__.removeprefix("sec_assets.defs.") for s in STAGES] == [
        "ingest",
        "splits",
        "features",
        "training",
        "evaluation",
        "baselines",
        "comparison",
        "inference",
        "monitoring",
        "sensors.landing",
        "sensors.retrain",
        "sensors.inbox",
    ]
    assert defs.resolve_job_def("class_features") is not None
    assert defs.resolve_sensor_def("landing_folder_sensor") is not None
    assert defs.resolve_job_def("inbox_labels") is not None
    assert defs.resolve_sensor_def("inbox_sensor") is not None
    assert defs.resolve_sensor_def("retrain_sensor") is not None
    for job in ("octave_features", "retrain_octave", "retrain_summary"):
        assert defs.resolve_job_def(job) is not None


def test_each_step_asks_slurm_for_what_it_uses():
    """The embeddings need a GPU; the classifier trains on the CPU and must not wait in the GPU queue."""
    from sec_assets.defs import ALL_ASSETS
    from sec_assets.executor import step_requests
    from sec_assets_tests.executor.helpers import make_config

    config = make_config(cpus=2)
    asked = {
        a.key.to_user_string(): step_requests(config, {k: str(v) for k, v in a.op.tags.items()}, {})
        for a in ALL_ASSETS
    }
    assert {k for k, r in asked.items() if r["gpus"]} == {"clap_embeddings", "inbox_predictions"}
    assert asked["clap_embeddings"]["partition"] == "gpu"
    assert (asked["trained_classifier"]["partition"], asked["trained_classifier"]["cpus"]) == ("cpu", 2)
