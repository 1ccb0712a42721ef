"""Behind ``sec-assets backfill``: one command for "every class at octave n" and for "everything".

It creates a Dagster **asset backfill** — the record the UI's *Materialize → Launch backfill*
creates — so the work shows on the UI's *Backfills* page, where it can be followed, cancelled
and retried, and ``dagster-daemon`` (or ``dagster dev``) turns it into runs by each asset's
backfill policy (:func:`sec_assets.partitions.class_backfill_policy`): ceil(N/K) runs of K
classes per per-class asset, per octave for ``octave_spectrograms``, one run per octave for the
models, then the unpartitioned summaries. Runs start side by side, up to the instance's
``run_queue: max_concurrent_runs``; on Slurm each step of a run is one job looping over its K
classes.

Seam: Dagster has no public API to create an asset backfill outside GraphQL, so this module builds
one with :func:`sec_assets.dagster_seam.asset_backfill` and ``instance.add_backfill`` as the
webserver's ``launchPartitionBackfill`` mutation does, and prints the plan by Dagster's own
chunking (:func:`sec_assets.dagster_seam.backfill_run_requests`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    partition_loading_context,
)

from sec_assets.dagster_seam import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
    AssetGraph,
    AssetKeyPartitionKey,
    BulkActionStatus,
    asset_backfill,
    backfill_run_requests,
    new_backfill_id,
)
from sec_assets.partitions import (
    AUDIO_CLASS,
    audio_class_partitions,
    class_octave_key,
    class_octave_partitions,
    octave_partitions,
)

BACKFILL_TAG = BACKFILL_ID_TAG  # "dagster/backfill": Dagster's tag on every run a backfill launches
DAEMON_STALE_S = 120.0  # a heartbeat older than this: no daemon is serving the instance
DONE = {BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED_FAILED}
ENDED = DONE | {BulkActionStatus.FAILED, BulkActionStatus.CANCELED}


class BackfillError(ValueError):
    """A backfill that cannot be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class PlannedRun:
    assets: tuple[str, ...]
    first: str | None  # partition range (None: unpartitioned)
    last: str | None


@dataclass(frozen=True)
class Plan:
    targets: frozenset[AssetKeyPartitionKey]
    runs: tuple[PlannedRun, ...]
    classes: int
    octaves: tuple[int, ...]

    @property
    def partitions(self) -> int:
        return len(self.targets)

    def summary(self) -> list[str]:
        """What the backfill is and how many runs it becomes, against one run per partition."""
        by_assets = Counter(r.assets for r in self.runs)
        per_asset = Counter(t.asset_key.to_user_string() for t in self.targets)
        lines = [f"{self.partitions} asset partitions, {self.classes} classes, octaves {list(self.octaves)}:"]
        for assets, runs in by_assets.items():
            lines.append(f"  {', '.join(assets)}: {per_asset[assets[0]]} partition(s) → {runs} run(s)")
        loop = sum(per_asset[assets[0]] for assets in by_assets)
        lines.append(
            f"{len(self.runs)} runs in all; a loop of `dagster asset materialize --partition …` over "
            f"the same assets is {loop} runs, each paying the start-up (≈ 16 s measured) once"
        )
        return lines


def training_assets(defs: Definitions) -> list[AssetKey]:
    """The assets a backfill covers by default: every materializable asset of the code location."""
    graph = defs.resolve_asset_graph()
    return sorted(k for k in graph.materializable_asset_keys)


def targets(
    defs: Definitions,
    instance: DagsterInstance,
    assets: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    octaves: Sequence[int] | None = None,
    exclude: Sequence[str] = (),
) -> tuple[set[AssetKeyPartitionKey], list[str], list[int]]:
    """The asset partitions of the selected assets (default all but ``exclude``) for the classes
    (default every registered one) and octaves (default all). Unpartitioned assets take part
    when no octave is named, or when named in ``assets``."""
    graph = defs.resolve_asset_graph()
    known = {k.to_user_string(): k for k in training_assets(defs)}
    if assets:
        unknown = sorted(set(assets) - set(known))
        if unknown:
            raise BackfillError(f"unknown asset(s) {unknown}; the assets are {sorted(known)}")
        keys = [known[a] for a in assets]
    else:
        keys = [k for name, k in known.items() if name not in exclude]
    registered = list(instance.get_dynamic_partitions(AUDIO_CLASS))
    if classes:
        missing = sorted(set(classes) - set(registered))
        if missing:
            raise BackfillError(
                f"class partition(s) {missing} are not registered: run `sec-assets scan` (or let the "
                "landing sensor add them) first"
            )
        chosen = [c for c in registered if c in set(classes)]
    else:
        chosen = registered
    if not chosen:
        raise BackfillError("no audio_class partitions are registered: run `sec-assets scan` first")
    defined = [int(n) for n in octave_partitions.get_partition_keys()]
    if octaves:
        bad = sorted(set(octaves) - set(defined))
        if bad:
            raise BackfillError(f"octave(s) {bad} are not partitions of this code location: {defined}")
    chosen_octaves = sorted(set(octaves)) if octaves else defined
    out: set[AssetKeyPartitionKey] = set()
    for key in keys:
        pdef = graph.get(key).partitions_def
        if pdef is None:
            if not octaves or assets:
                out.add(AssetKeyPartitionKey(key, None))
        elif pdef == audio_class_partitions:
            out |= {AssetKeyPartitionKey(key, c) for c in chosen}
        elif pdef == class_octave_partitions:
            out |= {
                AssetKeyPartitionKey(key, str(class_octave_key(c, n))) for c in chosen for n in chosen_octaves
            }
        elif pdef == octave_partitions:
            out |= {AssetKeyPartitionKey(key, str(n)) for n in chosen_octaves}
        else:  # a new partitioning must be taught here, not silently left out
            raise BackfillError(
                f"{key.to_user_string()}: partitions {pdef} are not known to sec-assets backfill"
            )
    if not out:
        raise BackfillError("nothing to backfill: no registered classes, or the selection is empty")
    return out, chosen, chosen_octaves


def plan(
    defs: Definitions,
    instance: DagsterInstance,
    chosen: set[AssetKeyPartitionKey],
    classes: int,
    octaves: Sequence[int],
) -> Plan:
    """The runs the backfill becomes, by Dagster's own grouping (same partitions and policy: one
    run) and chunking (``max_partitions_per_run``) — what the daemon launches, stage by stage."""
    graph = defs.resolve_asset_graph()
    with partition_loading_context(dynamic_partitions_store=instance):
        requests = backfill_run_requests(chosen, graph, instance)
    runs = []
    for r in requests:
        assets = tuple(k.to_user_string() for k in _topological(graph, r.asset_selection or []))
        first = r.tags.get(ASSET_PARTITION_RANGE_START_TAG, r.partition_key)
        last = r.tags.get(ASSET_PARTITION_RANGE_END_TAG, r.partition_key)
        runs.append(PlannedRun(assets, first, last))
    return Plan(frozenset(chosen), tuple(runs), classes, tuple(octaves))


def _topological(graph: AssetGraph, keys: Iterable[AssetKey]) -> list[AssetKey]:
    order = {k: i for i, level in enumerate(graph.toposorted_asset_keys_by_level) for k in level}
    return sorted(keys, key=lambda k: (order.get(k, 0), k.to_user_string()))


def daemon_age(instance: DagsterInstance) -> float | None:
    """Seconds since the backfill daemon's last heartbeat in this instance (None: never seen)."""
    beat = instance.get_daemon_heartbeats().get("BACKFILL")
    return None if beat is None else max(0.0, time.time() - beat.timestamp)


def submit(
    defs: Definitions,
    instance: DagsterInstance,
    chosen: set[AssetKeyPartitionKey],
    title: str,
    tags: dict[str, str] | None = None,
) -> str:
    """Create the asset backfill (status *requested*); the daemon picks it up. Its id."""
    graph = defs.resolve_asset_graph()
    backfill_id = new_backfill_id()
    with partition_loading_context(dynamic_partitions_store=instance):
        backfill = asset_backfill(backfill_id, chosen, graph, instance, title, tags)
    instance.add_backfill(backfill)
    return backfill_id


@dataclass(frozen=True)
class Progress:
    status: BulkActionStatus
    runs: Counter[str]

    def line(self) -> str:
        counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(self.runs.items())) or "no runs yet"
        return f"backfill {self.status.value.lower()}: runs {counts}"


def progress(instance: DagsterInstance, backfill_id: str) -> Progress:
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        raise BackfillError(f"no backfill {backfill_id!r} in this instance (DAGSTER_HOME)")
    runs = instance.get_runs(RunsFilter(tags={BACKFILL_TAG: backfill_id}))
    return Progress(backfill.status, Counter(r.status.value for r in runs))


def cancel(instance: DagsterInstance, backfill_id: str) -> Progress:
    """Ask the daemon to cancel the backfill, as the UI's *Cancel* does: it terminates the
    backfill's runs (on Slurm the executor scancels their jobs) and then marks it canceled."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        raise BackfillError(f"no backfill {backfill_id!r} in this instance (DAGSTER_HOME)")
    if backfill.status not in ENDED:
        instance.update_backfill(backfill.with_status(BulkActionStatus.CANCELING))
    return progress(instance, backfill_id)


def follow(
    instance: DagsterInstance,
    backfill_id: str,
    log: Callable[[str], None],
    poll_s: float = 5.0,
    timeout_s: float | None = None,
) -> Progress:
    """Poll until the backfill has ended (every run too); a line each time something changed."""
    started, last = time.monotonic(), ""
    while True:
        now = progress(instance, backfill_id)
        if now.line() != last:
            log(now.line())
            last = now.line()
        active = {
            DagsterRunStatus.QUEUED.value,
            DagsterRunStatus.STARTING.value,
            DagsterRunStatus.STARTED.value,
        }
        if now.status in ENDED and not any(now.runs.get(s) for s in active):
            return now
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise TimeoutError(f"backfill {backfill_id} still {now.status.value} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def succeeded(final: Progress) -> bool:
    bad = {DagsterRunStatus.FAILURE.value, DagsterRunStatus.CANCELED.value}
    return final.status in DONE and not any(final.runs.get(s) for s in bad)
