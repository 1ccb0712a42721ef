"""Monitoring stage: ``prediction_drift`` watches what the champions predict in use — the served
requests (``served_requests``) and the labelled inbox (``inbox_predictions``) — day by day against
each champion's own test set, and its check ``drift_within_bounds`` warns when they part.

The computing is :mod:`sec_assets.core.monitoring`; here it is wired to the registry, the
catalog table ``prediction_drift`` (the served requests' and inbox recordings' counts per day),
the figure under ``reports/drift/`` and the UI.
"""

from pathlib import Path
from typing import Any

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sec_assets.core.evaluation.report import data_uri
from sec_assets.core.inference import inbox_run
from sec_assets.core.monitoring.daily import (
    INBOX,
    SERVED,
    TABLE,
    breaches,
    daily_drift,
    describe,
    read_inbox_top1,
    served_top1,
)
from sec_assets.core.monitoring.figures import drift_png
from sec_assets.core.monitoring.reference import Reference, champion_reference
from sec_assets.core.serving.request_log import read_served
from sec_assets.core.store import catalog, storage
from sec_assets.core.tracking.store import tracking
from sec_assets.defs._shared import ALL, asset_boundary, finish, md_table, upstream
from sec_assets.defs.evaluation import class_names
from sec_assets.defs.inference import champion_versions
from sec_assets.resources import SecResource

GROUP = "monitoring"
WITHIN_BOUNDS = "drift_within_bounds"  # the asset check
LATEST_ROWS = 20  # rows of the latest days in the UI's table
NO_DATA = "no served requests and no labelled inbox recordings yet: nothing to compare"
SHOWN = (
    "day",
    "source",
    "octave",
    "requests",
    "recordings",
    "windows",
    "mean_top1",
    "class_psi",
    "confidence_psi",
    "top_label_key",
    "model_versions",
)


@asset(
    deps=[AssetDep(inbox_run.TABLE), AssetDep("evaluation_report", partition_mapping=ALL)],
    code_version="1",
    group_name=GROUP,
    check_specs=[
        AssetCheckSpec(
            WITHIN_BOUNDS,
            asset="prediction_drift",
            description="no day's top-1 class frequencies or top-1 confidences (served or inbox, any "
            "octave) part from the champion's test set by a PSI above drift_psi_threshold (WARN names "
            "the days, octaves and values)",
        )
    ],
    description="What the champions predict in use against what they predicted on their own test "
    "sets, per source (served requests by their UTC day; inbox recordings by the UTC day their labels "
    "were made), octave and day: requests or recordings, windows, mean top-1 confidence, and the "
    "population stability index of the top-1 class frequencies and of the top-1 confidences (ten "
    "bins on [0, 1]) against the champion's test predictions (the inbox above its min_confidence). "
    "The catalog view `prediction_drift`, a plot under reports/drift/; the check "
    "drift_within_bounds warns above drift_psi_threshold.",
    kinds={"mlflow", "parquet", "duckdb"},
)
@asset_boundary
def prediction_drift(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    cfg = sec.settings
    home, threshold = sec.home_path, cfg.drift_psi_threshold
    champions = champion_versions(sec)
    if not champions:
        raise Failure(
            "no registered model has a champion, so there is no test-set distribution to compare "
            "with: materialize trained_classifier and evaluation_report (a model that passes the gate "
            "becomes `champion`)",
            allow_retries=False,
        )
    references = _references(context, home, cfg.tracking_uri, champions)
    served = served_top1(read_served(home))
    top1 = pl.concat([served, read_inbox_top1(home)])
    ignored = top1.filter(~pl.col("octave").is_in(list(references))).height
    if ignored:
        context.log.info(f"{ignored} top-1 rows of octaves without a champion left out")
    daily = daily_drift(top1, references, floors={INBOX: cfg.min_confidence})
    written = catalog.write_table_partition(home, TABLE, {"scope": "all"}, daily)
    out = home / "reports" / "drift"
    keys = _keys(top1, references) if not daily.is_empty() else []
    plot = _report(
        out, daily, top1, references, threshold, dict(zip(keys, class_names(home, keys), strict=True))
    )
    over = breaches(daily, threshold)
    if not over.is_empty():
        context.log.warning(f"predictions part from the champions' test sets: {describe(over)}")
    counted = top1.filter(pl.col("octave").is_in(list(references)))
    result = finish(
        context,
        sec=sec,
        partition_key="all",
        written=written,
        params={
            "drift_psi_threshold": threshold,
            "inbox_confidence_floor": cfg.min_confidence,
            "references": {str(n): f"{r.model} v{r.version} ({r.origin})" for n, r in references.items()},
        },
        inputs=_inputs(home, sorted(references)),
        metadata={
            "status": NO_DATA if daily.is_empty() else f"{daily.height} (source, octave, day) rows",
            "served_requests": _units(counted, SERVED),
            "served_windows": counted.filter(pl.col("source") == SERVED).height,
            "inbox_recordings": _units(counted, INBOX),
            "inbox_windows": counted.filter(pl.col("source") == INBOX).height,
            "days": daily["day"].n_unique(),
            "days_over_threshold": over.height,
            "drift_psi_threshold": threshold,
            "ignored_rows": ignored,
            "references": _reference_table(references, champions),
            "latest_days": md_table(_shown(daily), limit=LATEST_ROWS),
            "report_path": MetadataValue.path(str(out / "drift.md")),
            **({"plot": MetadataValue.md(plot)} if plot else {}),
        },
    )
    check = _check(daily, over, threshold, references)
    return MaterializeResult(metadata=result.metadata, check_results=[check])


def _references(
    context: AssetExecutionContext, home: Path, uri: str, champions: list[tuple[int, str, str]]
) -> dict[int, Reference]:
    """Each champion's test-set reference; a note (another version's report) is a warning."""
    references = {}
    with tracking(uri) as client:
        for n, name, version in champions:
            try:
                references[n] = champion_reference(home, n, name, version, client)
            except FileNotFoundError as missing:
                raise Failure(str(missing), allow_retries=False) from missing
            if references[n].note:
                context.log.warning(f"1/{n}: reference of {name} v{version}: {references[n].note}")
    return references


def _report(
    out: Path,
    daily: pl.DataFrame,
    top1: pl.DataFrame,
    references: dict[int, Reference],
    threshold: float,
    names: dict[str, str],
) -> str | None:
    """drift.md (+ drift.png) under ``out``; the Markdown with the image inline for the UI, or
    None without data (a plot of an earlier run is removed: it would no longer be this one's)."""
    if daily.is_empty():
        (out / "drift.png").unlink(missing_ok=True)
        storage.atomic_write_bytes(out / "drift.md", f"# Prediction drift\n\n{NO_DATA}\n".encode())
        return None
    png = drift_png(daily, top1, references, threshold, names)
    lines = [
        "# Prediction drift",
        "",
        f"PSI against each champion's test set; the check warns above {threshold:g}.",
        "",
        str(md_table(_shown(daily), limit=LATEST_ROWS).value),  # the UI's table, on disk too
        "",
        "![drift]({image})",
    ]
    markdown = "\n".join(lines)
    storage.atomic_write_bytes(out / "drift.png", png)
    storage.atomic_write_bytes(out / "drift.md", markdown.replace("{image}", "drift.png").encode())
    return markdown.replace("{image}", data_uri(png))


def _check(
    daily: pl.DataFrame, over: pl.DataFrame, threshold: float, references: dict[int, Reference]
) -> AssetCheckResult:
    if daily.is_empty():
        description = NO_DATA
    elif over.is_empty():
        description = f"all {daily.height} (source, octave, day) rows within PSI {threshold:g}"
    else:
        description = (
            f"{over.height} of {daily.height} (source, octave, day) rows part from the champion's test "
            f"set (PSI > {threshold:g}): {describe(over)}"
        )
    notes = [f"1/{n}: {r.note}" for n, r in sorted(references.items()) if r.note]
    return AssetCheckResult(
        check_name=WITHIN_BOUNDS,
        passed=over.is_empty(),
        severity=AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "drift_psi_threshold": threshold,
            "rows_over_threshold": over.height,
            "rows": daily.height,
            "over_threshold": md_table(_shown(over)),
            "reference_notes": "; ".join(notes) or "none",
        },
    )


def _shown(daily: pl.DataFrame) -> pl.DataFrame:
    """The UI's columns, the latest days first, figures rounded."""
    return (
        daily.select(SHOWN)
        .sort(["day", "source", "octave"], descending=[True, False, False])
        .with_columns(pl.col("mean_top1", "class_psi", "confidence_psi").round(3))
    )


def _units(top1: pl.DataFrame, source: str) -> int:
    return top1.filter(pl.col("source") == source)["unit"].n_unique()


def _keys(top1: pl.DataFrame, references: dict[int, Reference]) -> list[str]:
    """Every class key of the figure: seen in use or in a reference."""
    seen = set(top1["label_key"].to_list())
    for ref in references.values():
        seen.update(ref.labels)
    return sorted(seen)


def _reference_table(
    references: dict[int, Reference], champions: list[tuple[int, str, str]]
) -> MetadataValue:
    rows = [
        {
            "octave": n,
            "champion": f"{name} v{version}",
            "reference_version": references[n].version,
            "test_segments": references[n].segments,
            "read_from": references[n].origin,
            "note": references[n].note or "",
        }
        for n, name, version in champions
    ]
    return md_table(pl.DataFrame(rows))


def _inputs(home: Path, octaves: list[int]) -> list[dict[str, Any]]:
    """Lineage references of what was read, where it was materialized (served requests come from
    the service, not an asset; an inbox never labelled has no lineage row)."""
    pairs = [("evaluation_report", str(n)) for n in octaves] + [(inbox_run.TABLE, "all")]
    return upstream(home, pairs, missing_ok=True)


ASSETS = [prediction_drift]
defs = Definitions(assets=ASSETS)
