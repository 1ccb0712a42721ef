"""``sec-assets``: what Dagster's CLI does not do — demo, scan, catalog queries, model store."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sec_assets
from sec_assets.core.settings import Settings, load_settings

if TYPE_CHECKING:
    import polars as pl

MINIMAL_DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def ensure_dagster_home(settings: Settings) -> Path:
    """``DAGSTER_HOME`` if set, else ``<SEC_HOME>/dagster`` with the repo's local profile."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.home / "dagster").absolute()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        profile = Path(sec_assets.__file__).resolve().parents[1] / "dagster.yaml"
        if profile.is_file():
            shutil.copyfile(profile, target)
        else:
            target.write_text(MINIMAL_DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def register_classes(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """Add a dynamic partition for every class folder; returns (key → name, newly added keys)."""
    from dagster import DagsterInstance

    from sec_assets.core.audio.manifest import discover_classes
    from sec_assets.partitions import AUDIO_CLASS

    classes = discover_classes(settings.landing)
    ensure_dagster_home(settings)
    with DagsterInstance.get() as instance:
        known = set(instance.get_dynamic_partitions(AUDIO_CLASS))
        new = sorted(set(classes) - known)
        if new:
            instance.add_dynamic_partitions(AUDIO_CLASS, new)
    return classes, new


def cmd_scan(args: argparse.Namespace) -> int:
    settings = load_settings()
    classes, new = register_classes(settings)
    for key, name in sorted(classes.items()):
        flag = "new" if key in new else "   "
        print(f"{flag} {key}" + (f"  ← {name!r}" if key != name else ""))
    print(
        f"{len(classes)} classes under {settings.landing}, {len(new)} newly registered "
        f"in {os.environ['DAGSTER_HOME']}"
    )
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    import duckdb

    from sec_assets.core.store.catalog import catalog_path, query

    settings = load_settings(home=args.home)
    path = catalog_path(settings.home)
    if not path.is_file():
        raise FileNotFoundError(
            f"no catalog at {path}: nothing was materialized under that home. Point this command at "
            "the right one with --home DIR, SEC_HOME=DIR or `home:` in the settings file (SEC_CONFIG)"
        )
    try:
        frame = query(settings.home, args.sql)
    except duckdb.Error as exc:
        print(f"catalog query failed: {exc}", file=sys.stderr)
        return 2
    print_frame(frame, args.format, args.max_rows)
    return 0


def print_frame(frame: pl.DataFrame, fmt: str, max_rows: int) -> None:
    """A query result on stdout as a table, CSV or JSON."""
    import polars as pl

    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    elif fmt == "json":
        sys.stdout.write(frame.write_json() + "\n")
    else:
        with pl.Config(tbl_rows=max_rows, tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=200):
            print(frame)


def run_everything(settings: Settings, log: bool = True) -> dict[str, object]:
    """Materialize every asset for every partition in-process (the embedded default)."""
    from dagster import DagsterInstance, materialize

    from sec_assets.defs import ALL_ASSETS
    from sec_assets.partitions import class_octave_key
    from sec_assets.resources import SecResource

    classes, _ = register_classes(settings)
    resources = {"sec": SecResource.from_settings(settings)}

    def run(selection: list[str], partition_key: str | None, instance: DagsterInstance) -> None:
        started = time.perf_counter()
        result = materialize(
            ALL_ASSETS,
            selection=selection,
            partition_key=partition_key,
            resources=resources,
            instance=instance,
            raise_on_error=True,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        if log:
            print(
                f"  {'+'.join(selection):<58} {partition_key or '':<28} "
                f"{'ok' if result.success else 'FAILED'} {time.perf_counter() - started:5.1f} s"
            )

    with DagsterInstance.get() as instance:
        for key in sorted(classes):
            run(["raw_manifest", "splits", "augmented_segments", "clap_embeddings"], key, instance)
            for n in settings.octaves:
                run(["octave_spectrograms"], str(class_octave_key(key, n)), instance)
        for n in settings.octaves:
            run(["trained_classifier", "evaluation_report"], str(n), instance)
        run(["zero_shot_baseline"], None, instance)
        run(["octave_comparison"], None, instance)
    return {"classes": classes}


def label_inbox(settings: Settings, config: dict[str, object] | None = None) -> dict[str, object]:
    """Materialize ``inbox_predictions`` in-process (``config``: its run config, as the inbox
    sensor sends it; default the whole inbox); its metadata."""
    from dagster import DagsterInstance, materialize

    from sec_assets.defs import ALL_ASSETS
    from sec_assets.resources import SecResource

    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["inbox_predictions"],
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
            raise_on_error=True,
            run_config={
                "loggers": {"console": {"config": {"log_level": "WARNING"}}},
                **({"ops": {"inbox_predictions": {"config": config}}} if config else {}),
            },
        )
    meta = result.asset_materializations_for_node("inbox_predictions")[0].metadata
    return {k: v.value for k, v in meta.items()}


def cmd_demo(args: argparse.Namespace) -> int:
    from sec_assets.core.store.catalog import catalog_path, query
    from sec_assets.testing.demo_data import write_demo_dataset

    base = load_settings()
    home = Path(args.home).absolute() if args.home else base.home
    audio = home / "demo_audio"
    box = home / "demo_inbox"
    settings = load_settings(home=home, audio_root=audio, allow_random_init=True, inbox=box)
    os.environ.update(
        {
            "SEC_HOME": str(settings.home),
            "SEC_AUDIO_ROOT": str(audio),
            "SEC_ALLOW_RANDOM_INIT": "1",
            "SEC_INBOX": str(box),
        }
    )
    started = time.perf_counter()
    shutil.rmtree(audio, ignore_errors=True)
    truth = write_demo_dataset(audio, files_per_class=args.files_per_class, seed=settings.seed)
    print(f"demo: wrote {len(truth)} files ({sum(t.corrupt for t in truth)} corrupt) to {audio}")
    print(
        f"demo: materializing every asset for every partition (DAGSTER_HOME={ensure_dagster_home(settings)})"
    )
    run_everything(settings)
    shutil.rmtree(box, ignore_errors=True)  # new, unlabeled recordings (another seed) for the champions
    unlabeled = write_demo_dataset(box, files_per_class=1, seed=settings.seed + 1)
    labelled = label_inbox(settings)
    evals = query(
        settings.home,
        "SELECT octave, accuracy, macro_f1, mean_average_precision, report_path "
        "FROM evaluations WHERE split = 'test' AND selected ORDER BY octave",
    )
    failed = query(settings.home, "SELECT count(*) FROM audio_files WHERE status = 'failed'").item()
    print(f"\ndemo: done in {time.perf_counter() - started:.0f} s; {failed} file(s) recorded as failed")
    print(f'catalog: {catalog_path(settings.home)}  (try: sec-assets catalog "SELECT * FROM lineage")')
    for row in evals.iter_rows(named=True):
        registry = json.loads(Path(row["report_path"]).with_name("report.json").read_text())["registry"]
        print(
            f"1/{row['octave']:<2} octave: test accuracy {row['accuracy']:.3f}, macro-F1 "
            f"{row['macro_f1']:.3f}, mAP {row['mean_average_precision']:.3f}  report: {row['report_path']}"
            f"  registry: {registry['name']} v{registry['version']} @{registry['alias']}"
        )
    zs = query(settings.home, "SELECT status, notice, accuracy, mean_average_precision FROM zero_shot").row(
        0, named=True
    )
    if zs["status"] == "ok":
        print(
            f"zero-shot baseline (random-init text tower in the demo): accuracy {zs['accuracy']:.3f}, "
            f"mAP {zs['mean_average_precision']:.3f}"
        )
    else:
        print(f"zero-shot baseline: {zs['notice']}")
    best = evals.sort("accuracy", descending=True).row(0, named=True)
    print(f"headline: test accuracy {best['accuracy']:.3f} (1/{best['octave']} octave)")
    print(
        f"inbox: {labelled['labelled']} of {len(unlabeled)} new recordings labelled by "
        f"{labelled['models']} ({labelled['failed']} failed); predictions: "
        f"{settings.home / 'predictions' / 'combined.csv'}"
    )
    comparison = settings.home / "reports" / "octave_comparison" / "comparison.md"
    print(f"octave comparison: {comparison} (plot: {comparison.with_suffix('.png')})")
    print(f"MLflow: mlflow ui --backend-store-uri {settings.tracking_uri}")
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from sec_assets.core.models.model_store import fetch_msclap_2023

    settings = load_settings()
    try:
        path = fetch_msclap_2023(settings.model_store)
    except Exception as exc:  # network or hub errors: say what failed and where to run it
        print(
            f"models fetch failed: {exc}\nRun this on a machine with internet access; the store "
            f"({settings.model_store}) must be on storage the compute nodes can read.",
            file=sys.stderr,
        )
        return 1
    print(f"CLAP 2023 weights and GPT-2 stored in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sec-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="synthesize a demo dataset and materialize everything locally")
    demo.add_argument("--home", help="output root (default: SEC_HOME or ./.sec)")
    demo.add_argument("--files-per-class", type=int, default=6)
    demo.set_defaults(func=cmd_demo)
    scan = sub.add_parser("scan", help="register the class folders under SEC_AUDIO_ROOT as partitions")
    scan.set_defaults(func=cmd_scan)
    cat = sub.add_parser("catalog", help="read-only SQL query of the lineage catalog")
    cat.add_argument("sql")
    cat.add_argument("--home", help="the SEC_HOME holding catalog.duckdb (default: SEC_HOME or settings)")
    cat.add_argument("--format", choices=["table", "csv", "json"], default="table")
    cat.add_argument("--max-rows", type=int, default=50)
    cat.set_defaults(func=cmd_catalog)
    models = sub.add_parser("models", help="the offline model store")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    fetch = models_sub.add_parser("fetch", help="download CLAP 2023 + GPT-2 into SEC_MODELS (needs internet)")
    fetch.set_defaults(func=cmd_models_fetch)
    from sec_assets.backfill.command import add_parser as add_backfill_parser
    from sec_assets.campaigns.commands import add_parser as add_campaign_parser  # (imports this module)
    from sec_assets.recover import add_parser as add_recover_parser

    add_backfill_parser(sub)
    add_campaign_parser(sub)
    add_recover_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (FileNotFoundError, ValueError) as exc:
        print(f"sec-assets {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
