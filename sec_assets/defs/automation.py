"""Automation: the per-class feature job and the landing-folder sensor that runs it.

The sensor: new or changed class folders → partitions and runs.

Each tick lists the class folders, adds partitions for new ones (before its run requests resolve)
and requests the per-class feature job for every class whose visible files changed (names, sizes,
modification times) since the last tick. The cursor holds one fingerprint per class.
"""

import json

from dagster import (
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from sec_assets.core.audio.manifest import discover_classes, iter_class_files
from sec_assets.core.hashing import stable_hex
from sec_assets.partitions import audio_class_partitions
from sec_assets.resources import SecResource

class_features_job = define_asset_job(
    "class_features",
    selection=["raw_manifest", "splits", "augmented_segments", "clap_embeddings"],
    description="Manifest, file splits, segments and CLAP embeddings of one audio class.",
)

MAX_NEW_PARTITIONS_PER_TICK = 1000


def folder_fingerprint(sec: SecResource, name: str) -> str:
    entries = []
    for path in iter_class_files(sec.audio_root_path / name):
        st = path.stat()
        entries.append((str(path), st.st_size, st.st_mtime_ns))
    return stable_hex(entries, size=8)


@sensor(job=class_features_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED)
def landing_folder_sensor(context: SensorEvaluationContext, sec: SecResource) -> SensorResult | SkipReason:
    if not sec.audio_root_path.is_dir():
        return SkipReason(f"landing folder {sec.audio_root_path} does not exist")
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    classes = discover_classes(sec.audio_root_path)
    known = set(context.instance.get_dynamic_partitions(audio_class_partitions.name or ""))
    new_keys = sorted(k for k in classes if k not in known)[:MAX_NEW_PARTITIONS_PER_TICK]
    current = dict(previous)
    requests = []
    for key, name in sorted(classes.items()):
        if key not in known and key not in new_keys:
            continue  # beyond this tick's budget; picked up next tick
        fingerprint = folder_fingerprint(sec, name)
        if previous.get(key) != fingerprint:
            requests.append(RunRequest(run_key=f"{key}:{fingerprint}", partition_key=key))
            current[key] = fingerprint
    if not requests and not new_keys:
        return SkipReason("no new or changed class folders")
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[audio_class_partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(current, sort_keys=True),
    )


defs = Definitions(jobs=[class_features_job], sensors=[landing_folder_sensor])
