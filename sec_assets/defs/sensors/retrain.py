"""Retraining once per burst: a coalescing sensor over the per-class features.

When the CLAP embeddings of any class are materialized again (the landing sensor's
``class_features`` runs, a backfill, a manual run) or a class partition disappears, every
octave's model in use (every octave with a trained model; all octave partitions when none has
one) is stale. ``retrain_sensor`` collects those changes and, once the burst has
settled — no change for ``retrain_settle_seconds`` and no ``class_features`` run queued or
running — retrains exactly once, in three stages, each started when the one before succeeded:

1. ``octave_features``: ``octave_spectrograms`` of each changed class at each octave;
2. ``retrain_octave``: one run per octave of ``trained_classifier → evaluation_report`` (the
   report's champion gate decides whether the new model is used);
3. ``retrain_summary``: ``zero_shot_baseline`` and ``octave_comparison``.

Changes arriving during a burst wait for the next one. A failed stage ends the burst (reported
on every tick until a new change starts the next one). The runs carry ``sec/retrain`` (the
burst) and ``sec/retrain_stage`` tags; run keys are digests of the burst and stage, so a daemon
restart never launches a stage twice. Materializations by campaign runs (``sec/campaign``) are
not changes: a campaign task writes its own home. With no cursor, the sensor starts from the newest
``trained_classifier`` materialization: what was trained before is not retrained.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    sensor,
)

from sec_assets.core.campaign.tags import CAMPAIGN_TAG
from sec_assets.core.hashing import stable_hex
from sec_assets.defs.sensors.landing import class_features_job
from sec_assets.partitions import AUDIO_CLASS, class_octave_key, octave_partitions
from sec_assets.resources import SecResource

octave_features_job = define_asset_job(
    "octave_features",
    selection=["octave_spectrograms"],
    description="Band levels of one class at one octave.",
)
retrain_octave_job = define_asset_job(
    "retrain_octave",
    selection=["trained_classifier", "evaluation_report"],
    description="Train, evaluate and gate one octave's classifier.",
)
retrain_summary_job = define_asset_job(
    "retrain_summary",
    selection=["zero_shot_baseline", "octave_comparison"],
    description="The zero-shot baseline and the octave comparison after a retraining.",
)

BURST_TAG = "sec/retrain"
STAGE_TAG = "sec/retrain_stage"
STAGES = ("spectrograms", "train", "summary")
UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
PAGE = 1000


def _changes(context: SensorEvaluationContext, after: int) -> tuple[set[str], int, float]:
    """Classes whose embeddings were materialized after storage id ``after`` with new data (a
    materialization that kept its partition, ``unchanged``, is no change); the newest id seen and
    the time of the newest change."""
    classes: set[str] = set()
    newest, when = after, 0.0
    cursor = None
    while True:
        page = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("clap_embeddings"), after_storage_id=after),
            limit=PAGE,
            cursor=cursor,
            ascending=True,
        )
        campaign_runs = _campaign_runs(context, {r.run_id for r in page.records})
        for record in page.records:
            newest = max(newest, record.storage_id)
            if record.run_id in campaign_runs:
                continue  # a campaign task writes its own home, not the models in use
            materialization = record.asset_materialization
            kept = materialization is not None and materialization.metadata.get("unchanged")
            if kept is not None and getattr(kept, "value", kept) is True:
                continue  # the step kept its partition: nothing to retrain on
            if record.partition_key:
                classes.add(record.partition_key)
            when = max(when, record.timestamp)
        if not page.has_more:
            return classes, newest, when
        cursor = page.cursor


def _campaign_runs(context: SensorEvaluationContext, run_ids: set[str]) -> set[str]:
    """Those of the runs that belong to a campaign task (``sec-assets campaign run``)."""
    if not run_ids:
        return set()
    records = context.instance.get_run_records(RunsFilter(run_ids=sorted(run_ids)))
    return {r.dagster_run.run_id for r in records if CAMPAIGN_TAG in r.dagster_run.tags}


def _last_trained(context: SensorEvaluationContext) -> int:
    page = context.instance.fetch_materializations(AssetKey("trained_classifier"), limit=1)
    return page.records[0].storage_id if page.records else 0


def _octaves(context: SensorEvaluationContext) -> list[int]:
    """The octaves in use: those with a trained model (every octave partition when none is)."""
    defined = octave_partitions.get_partition_keys()
    trained = context.instance.get_materialized_partitions(AssetKey("trained_classifier"))
    return sorted(int(k) for k in defined if k in trained or not trained)


def _stage_runs(context: SensorEvaluationContext, burst: str, stage: str) -> list[DagsterRunStatus]:
    records = context.instance.get_run_records(RunsFilter(tags={BURST_TAG: burst, STAGE_TAG: stage}))
    return [r.dagster_run.status for r in records]


def _requests(burst: str, stage: str, classes: Sequence[str], octaves: Sequence[int]) -> list[RunRequest]:
    tags = {BURST_TAG: burst, STAGE_TAG: stage}
    if stage == "spectrograms":
        keys = [str(class_octave_key(c, n)) for c in classes for n in octaves]
        job = octave_features_job.name
    elif stage == "train":
        keys, job = [str(n) for n in octaves], retrain_octave_job.name
    else:
        return [RunRequest(run_key=f"retrain:{burst}:{stage}", job_name=retrain_summary_job.name, tags=tags)]
    return [
        RunRequest(run_key=f"retrain:{burst}:{stage}:{k}", job_name=job, partition_key=k, tags=tags)
        for k in keys
    ]


@sensor(
    jobs=[octave_features_job, retrain_octave_job, retrain_summary_job],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Retrains every octave once after a burst of class feature changes settles.",
)
def retrain_sensor(context: SensorEvaluationContext, sec: SecResource) -> SensorResult:
    cfg = sec.settings
    state = json.loads(context.cursor) if context.cursor else {}
    if "seen" not in state:
        state = {"seen": _last_trained(context), "pending": [], "changed_at": 0.0, "burst": None}
    classes = sorted(context.instance.get_dynamic_partitions(AUDIO_CLASS))
    changed, state["seen"], when = _changes(context, state["seen"])
    if set(state.get("classes", classes)) - set(classes):  # a class partition was removed
        state["removed"] = True
        when = time.time()
    state["classes"] = classes  # (an added class counts once its embeddings are materialized)
    if changed or when:
        state["pending"] = sorted(set(state["pending"]) | changed)
        state["changed_at"] = max(state["changed_at"], when)
    burst = state["burst"]
    requests: list[RunRequest] = []
    if burst is not None:
        statuses = _stage_runs(context, burst["id"], burst["stage"])
        if any(s in UNFINISHED for s in statuses) or len(statuses) < burst["runs"]:
            return _result(state, f"burst {burst['id']}: stage {burst['stage']}, {len(statuses)} run(s) on")
        if any(s != DagsterRunStatus.SUCCESS for s in statuses):
            state["burst"], state["failed"] = None, f"{burst['id']} at stage {burst['stage']}"
            return _result(state, f"burst {burst['id']} failed at stage {burst['stage']}: see its runs")
        after = STAGES.index(burst["stage"]) + 1
        if after == len(STAGES):
            state["burst"], state["done"] = None, burst["id"]
            return _result(state, f"burst {burst['id']} done: every octave retrained")
        burst["stage"] = STAGES[after]
        requests = _requests(burst["id"], burst["stage"], burst["classes"], burst["octaves"])
        burst["runs"] = len(requests)
        return _result(state, "", requests)
    if not state["pending"] and not state.get("removed"):
        return _result(state, "nothing changed since the last retraining")
    quiet = time.time() - state["changed_at"]
    if quiet < cfg.retrain_settle_seconds:
        return _result(
            state,
            f"{len(state['pending'])} class(es) changed; settling ({quiet:.0f} of "
            f"{cfg.retrain_settle_seconds:.0f} s without a change)",
        )
    running = context.instance.get_run_records(
        RunsFilter(job_name=class_features_job.name, statuses=UNFINISHED), limit=1
    )
    if running:
        return _result(state, f"{len(state['pending'])} class(es) changed; class_features runs still on")
    members = [c for c in state["pending"] if c in classes]
    burst_id = stable_hex(members, state["seen"], classes, size=6)
    stage = "spectrograms" if members else "train"
    octaves = _octaves(context)
    requests = _requests(burst_id, stage, members, octaves)
    state["burst"] = {
        "id": burst_id,
        "stage": stage,
        "classes": members,
        "octaves": octaves,
        "runs": len(requests),
    }
    state["pending"], state["removed"] = [], False
    context.log.info(f"burst {burst_id}: {len(members)} changed class(es), {len(requests)} {stage} run(s)")
    return _result(state, "", requests)


def _result(state: dict, skip: str, requests: Sequence[RunRequest] = ()) -> SensorResult:
    cursor = json.dumps(state, sort_keys=True)
    if requests:
        return SensorResult(run_requests=list(requests), cursor=cursor)
    return SensorResult(skip_reason=skip, cursor=cursor)


defs = Definitions(
    jobs=[octave_features_job, retrain_octave_job, retrain_summary_job], sensors=[retrain_sensor]
)
