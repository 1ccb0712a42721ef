"""Automation: the per-class feature job and the landing-folder sensor that runs it.

Each tick scans the landing folder with the stability rule of
:mod:`sec_assets.core.landing.scan` (a folder is ready when its listing — final-named files
with size and mtime — is unchanged for a tick; a quiet folder costs one ``stat``). A class is
its top-level folder and everything below it:

- a new class folder adds its partition at once (at most ``MAX_NEW_PARTITIONS_PER_TICK``);
- a class whose folders have all settled with a listing not sent before gets one run of the
  ``class_features`` job — after a burst of files, once, not once per tick of the burst; a class
  with a file still being written waits;
- a class the cursor has sent nothing for (its first sight: a new or reset cursor, a fresh
  instance over an existing home) runs only if the catalog does not already hold it — no
  manifest, files added, removed or changed (size or mtime) since its manifest's run, or a later
  step of the job missing (:mod:`sec_assets.core.landing.catalogued`); otherwise it is marked
  sent, and the tick counts it "unchanged since their manifest". A tick compares at most
  ``MAX_FIRST_SIGHTS_PER_TICK`` classes (a few ms each); the others wait for the next tick;
- a removed class folder is handled by ``removed_class_policy``: ``keep`` reports it on every
  tick (its partition and data stay), ``remove`` deletes the partition.

**With a dataset table** (``dataset_table``) the table is watched instead of the folders: once
its size and mtime have held for a tick after a change, it is read (no audio file opened) and a
label whose rows' hash differs from the one last sent — a row added, removed or edited — gets a
run; a new label adds its partition; a label seen for the first time asks the catalog as above,
with its table rows compared too. An audio file replaced in place under an unchanged table is
found by its class's next run (the manifest re-reads files whose size or mtime moved).

Run keys digest the class and its listing (or rows): a daemon restart, or a tick evaluated again from an
older cursor, requests the same key, which Dagster does not launch twice. A changed listing is
confirmed by content: ``raw_manifest`` hashes the files, and the resumable steps below it reuse
what the hashes show unchanged.
"""

from __future__ import annotations

import json

from dagster import (
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    sensor,
)

from sec_assets.core.audio.keys import partition_keys_for
from sec_assets.core.datasets.table import DatasetTableError
from sec_assets.core.hashing import stable_hex
from sec_assets.core.landing.catalogued import Verdict, compare, compare_entries
from sec_assets.core.landing.scan import ROOT, FolderState, TreeState, scan
from sec_assets.partitions import audio_class_partitions
from sec_assets.resources import SecResource

CLASS_FEATURES = ["raw_manifest", "splits", "augmented_segments", "clap_embeddings"]  # in order
class_features_job = define_asset_job(
    "class_features",
    selection=CLASS_FEATURES,
    description="Manifest, file splits, segments and CLAP embeddings of one audio class.",
)

MAX_NEW_PARTITIONS_PER_TICK = 1000
MAX_FIRST_SIGHTS_PER_TICK = 1000  # catalog comparisons (≈ 5 ms each); the rest wait a tick


def class_listings(state: TreeState) -> dict[str, tuple[bool, str, int]]:
    """Class folder name → (settled, fingerprint of its folders' listings, files) from a scan."""
    folders: dict[str, list[tuple[str, FolderState]]] = {}
    for key, folder in state.folders.items():
        if key != ROOT:
            folders.setdefault(key.split("/", 1)[0], []).append((key, folder))
    return {
        name: (
            all(f.settled for _, f in entries),
            stable_hex(sorted((k, f.listing) for k, f in entries), size=8),
            sum(f.files for _, f in entries),
        )
        for name, entries in folders.items()
    }


@sensor(job=class_features_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED)
def landing_folder_sensor(context: SensorEvaluationContext, sec: SecResource) -> SensorResult:
    cfg = sec.settings
    root = sec.audio_root_path
    if cfg.dataset_table is not None:
        return _table_tick(context, sec)
    if not root.is_dir():
        return SensorResult(
            skip_reason=f"landing folder {root} does not exist (setting audio_root, SEC_AUDIO_ROOT)",
            cursor=context.cursor,
        )
    cursor = json.loads(context.cursor) if context.cursor else {}
    if "scan" not in cursor:  # a cursor of the previous format (one fingerprint per class)
        cursor = {}
    state, stats = scan(root, TreeState.from_json(cursor.get("scan")), cfg.sensor_full_check_ticks)
    cost = f"{stats.folders} folders stat'ed, {stats.listed} listed ({stats.files} files)"
    listings = class_listings(state)
    keys = partition_keys_for(sorted(listings))  # folder name → partition key
    known = set(context.instance.get_dynamic_partitions(audio_class_partitions.name or ""))
    new_keys = sorted(k for k in keys.values() if k not in known)[:MAX_NEW_PARTITIONS_PER_TICK]
    registered = known | set(new_keys)
    sent: dict[str, str] = {k: v for k, v in cursor.get("sent", {}).items() if k in keys.values()}
    requests = []
    waiting = deferred = 0
    first_sight: dict[Verdict, int] = {}
    policy = cfg.file_policy()
    for name, (settled, fingerprint, files) in sorted(listings.items()):
        key = keys[name]
        if key not in registered or not files:
            continue  # beyond this tick's budget of new partitions (the next tick adds it), or empty
        if not settled:
            waiting += 1
        elif sent.get(key) != fingerprint:
            if key not in sent:  # first sight: a run only if the catalog does not hold it already
                if sum(first_sight.values()) >= MAX_FIRST_SIGHTS_PER_TICK:
                    deferred += 1
                    continue
                verdict = compare(sec.home_path, key, root / name, policy, CLASS_FEATURES)
                first_sight[verdict] = first_sight.get(verdict, 0) + 1
                if verdict is Verdict.UNCHANGED:
                    sent[key] = fingerprint
                    continue
            requests.append(RunRequest(run_key=f"{key}:{fingerprint}", partition_key=key))
            sent[key] = fingerprint
    removed = sorted(known - set(keys.values()))
    deletions = []
    if removed:
        if cfg.removed_class_policy == "remove":
            deletions = [audio_class_partitions.build_delete_request(removed)]
            context.log.warning(f"class folders removed, partitions deleted: {', '.join(removed)}")
        else:
            context.log.warning(
                f"class folders removed, partitions kept (removed_class_policy: keep; their data "
                f"still trains): {', '.join(removed)}"
            )
    unchanged = first_sight.pop(Verdict.UNCHANGED, 0)
    why = ", ".join(f"{n} {verdict}" for verdict, n in sorted(first_sight.items()))
    summary = (
        f"{len(requests)} class run(s){f' (first sight: {why})' if why else ''}, "
        f"{unchanged} {Verdict.UNCHANGED}, "
        f"{len(new_keys)} new, {waiting} settling, "
        f"{f'{deferred} left for the next tick (first sights), ' if deferred else ''}"
        f"{len(removed)} removed ({cfg.removed_class_policy}); {cost}"
    )
    new_cursor = json.dumps({"scan": state.to_json(), "sent": sent}, sort_keys=True)
    if not requests and not new_keys and not deletions:
        return SensorResult(skip_reason=f"no class ready: {summary}", cursor=new_cursor)
    context.log.info(summary)
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[
            *([audio_class_partitions.build_add_request(new_keys)] if new_keys else []),
            *deletions,
        ],
        cursor=new_cursor,
    )


def _table_tick(context: SensorEvaluationContext, sec: SecResource) -> SensorResult:
    """With a dataset table the table is watched, not the folders: once its (size, mtime) has
    held for a tick after a change, it is read (no audio opened) and every label whose rows'
    hash differs from the one last sent gets a run; a label seen for the first time asks the
    catalog (:func:`compare_entries`) like a folder does."""
    dataset = sec.settings.dataset()
    assert dataset.table is not None
    cursor = json.loads(context.cursor) if context.cursor else {}
    if "table" not in cursor:  # a folder cursor, or none: start over
        cursor = {}
    try:
        st = dataset.table.stat()
    except OSError as exc:
        return SensorResult(
            skip_reason=f"dataset table {dataset.table} cannot be read ({exc.strerror}): see dataset_table",
            cursor=context.cursor,
        )
    stat = [st.st_size, st.st_mtime_ns]
    if cursor.get("table") != stat:  # changed since the last tick: wait until it holds
        cursor = {**cursor, "table": stat}
        return SensorResult(
            skip_reason=f"dataset table {dataset.table} is settling", cursor=json.dumps(cursor)
        )
    if cursor.get("read") == stat:
        return SensorResult(skip_reason="dataset table unchanged", cursor=context.cursor)
    try:
        keys = {name: key for key, name in dataset.classes().items()}  # label → partition key
    except (DatasetTableError, ValueError) as exc:
        context.log.error(f"dataset table not used: {exc}")
        return SensorResult(
            skip_reason=f"dataset table not used: {exc}", cursor=json.dumps({**cursor, "read": stat})
        )
    known = set(context.instance.get_dynamic_partitions(audio_class_partitions.name or ""))
    new_keys = sorted(k for k in keys.values() if k not in known)
    sent: dict[str, str] = {k: v for k, v in cursor.get("sent", {}).items() if k in keys.values()}
    requests: list[RunRequest] = []
    first_sight: dict[Verdict, int] = {}
    for name, key in sorted(keys.items()):
        digest = dataset.rows_hash(name) or ""
        if sent.get(key) == digest:
            continue
        if key not in sent:
            verdict = compare_entries(sec.home_path, key, dataset.entries(name), CLASS_FEATURES)
            first_sight[verdict] = first_sight.get(verdict, 0) + 1
            if verdict is Verdict.UNCHANGED:
                sent[key] = digest
                continue
        requests.append(RunRequest(run_key=f"{key}:{digest}", partition_key=key))
        sent[key] = digest
    removed = sorted(known - set(keys.values()))
    if removed:
        context.log.warning(
            f"labels no longer in the dataset table, partitions kept (their data still trains until "
            f"removed with `dagster`/the UI): {', '.join(removed)}"
        )
    unchanged = first_sight.pop(Verdict.UNCHANGED, 0)
    why = ", ".join(f"{n} {verdict}" for verdict, n in sorted(first_sight.items()))
    summary = (
        f"dataset table: {len(requests)} class run(s){f' (first sight: {why})' if why else ''}, "
        f"{unchanged} {Verdict.UNCHANGED}, {len(new_keys)} new, {len(removed)} removed"
    )
    new_cursor = json.dumps({"table": stat, "read": stat, "sent": sent}, sort_keys=True)
    if not requests and not new_keys:
        return SensorResult(skip_reason=f"no class ready: {summary}", cursor=new_cursor)
    context.log.info(summary)
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[audio_class_partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=new_cursor,
    )


defs = Definitions(jobs=[class_features_job], sensors=[landing_folder_sensor])
