"""The inbox sensor: recordings dropped into the inbox get labelled once their folder settles.

Each tick scans the inbox with the stability rule of :mod:`sec_assets.core.landing.scan` (a
folder is labelled once its listing is unchanged for a tick; quiet folders cost one ``stat``)
and requests one ``inbox_labels`` run for the folders that settled with a listing not sent
before — passing each folder's listing fingerprint, which the asset checks again, so a file that
lands between the tick and the run waits for the next tick instead of being read half-written.
A new champion of any octave requests a run over the whole inbox (its labels are then
out of date); a folder that disappeared requests a run that drops its labels. Run keys are
digests of what a run covers, so a daemon restart or a re-evaluated tick never duplicates one.
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

from sec_assets.core.hashing import stable_hex
from sec_assets.core.landing.scan import TreeState, scan
from sec_assets.defs.inference import ASSET, champion_versions
from sec_assets.resources import SecResource

inbox_job = define_asset_job(
    "inbox_labels", selection=[ASSET], description="Label the inbox's recordings with every champion."
)


@sensor(job=inbox_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED)
def inbox_sensor(context: SensorEvaluationContext, sec: SecResource) -> SensorResult:
    cfg = sec.settings
    folder = cfg.inbox_path
    cursor = json.loads(context.cursor) if context.cursor else {}
    if not folder.is_dir():
        return SensorResult(
            skip_reason=f"no inbox folder {folder} (setting inbox, SEC_INBOX)", cursor=context.cursor
        )
    state, stats = scan(folder, TreeState.from_json(cursor.get("scan")), cfg.sensor_full_check_ticks)
    cost = f"{stats.folders} folders stat'ed, {stats.listed} listed ({stats.files} files)"
    try:
        champions = [list(c) for c in champion_versions(sec)]
    except Exception as exc:  # the registry unreachable: scan again next tick, send nothing
        return SensorResult(skip_reason=f"model registry not readable ({exc}); {cost}", cursor=context.cursor)
    sent: dict[str, str] = cursor.get("sent", {})
    kept = {k: v for k, v in sent.items() if k in state.folders}
    settled = {k: v.listing for k, v in state.settled().items() if v.files}
    new_cursor = {"scan": state.to_json(), "sent": kept, "champions": cursor.get("champions", [])}
    if not champions:
        return SensorResult(skip_reason=f"no champion model yet; {cost}", cursor=json.dumps(new_cursor))
    relabel = champions != cursor.get("champions")
    folders = settled if relabel else {k: v for k, v in settled.items() if sent.get(k) != v}
    gone = sorted(set(sent) - set(state.folders))
    new_cursor["champions"] = champions
    new_cursor["sent"] = {**kept, **folders}
    if not folders and not gone:
        pending = state.pending()
        why = f"waiting for {len(pending)} folder(s) to settle" if pending else "nothing new in the inbox"
        return SensorResult(skip_reason=f"{why}; {cost}", cursor=json.dumps(new_cursor))
    run_key = stable_hex(sorted(folders.items()), gone, champions, size=8)
    context.log.info(f"labelling {len(folders)} settled folder(s), {len(gone)} gone; {cost}")
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"inbox:{run_key}",
                run_config={"ops": {ASSET: {"config": {"whole_inbox": False, "folders": folders}}}},
                tags={"sec/inbox_folders": str(len(folders)), "sec/inbox_gone": str(len(gone))},
            )
        ],
        cursor=json.dumps(new_cursor),
    )


defs = Definitions(jobs=[inbox_job], sensors=[inbox_sensor])
