"""``sec-assets demo``: synthesize a demo dataset and materialize everything in this process."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sec_assets.core.settings import Settings, load_settings
from sec_assets.instance import ensure_dagster_home
from sec_assets.local_run import label_inbox, run_everything

FILES_PER_CLASS = 12
# the demo's settings over the usual ones (configs/sec.yaml, SEC_* variables): with its 12 recordings
# per class (two 7-s segments each) these fractions put at least one recording of every class in
# valid and in test, so that every class is scored in both (per-class support ≥ 2 segments;
# sec_assets_tests/test_demo.py checks it). In code, not a file: the container ships no configs/.
DEMO_SETTINGS: dict[str, Any] = {"split_fractions": {"train": 0.5, "es": 0.1, "valid": 0.2, "test": 0.2}}
# what the libraries would print around the demo's own lines (restored by --verbose)
QUIET_ENV = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # "Downloading artifacts" bars
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # MLflow's INFO lines (alembic follows at WARNING)
}
QUIET_LOGGERS = ("mlflow", "alembic")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthesize a demo dataset and materialize everything locally")
    p.add_argument("--home", help="output root (default: SEC_HOME or ./.sec)")
    p.add_argument("--files-per-class", type=int, default=FILES_PER_CLASS)
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show the libraries' output too (Dagster warnings, MLflow's logs and progress bars)",
    )
    p.set_defaults(func=cmd_demo)


def demo_settings(home: Path | None) -> Settings:
    """:data:`DEMO_SETTINGS` over the usual settings, with the demo's folders under ``home`` and the
    random-init CLAP allowed."""
    home = home or load_settings().home
    return load_settings(
        **DEMO_SETTINGS,
        home=home,
        audio_root=home / "demo_audio",
        allow_random_init=True,
        inbox=home / "demo_inbox",
    )


@contextlib.contextmanager
def quiet(verbose: bool) -> Iterator[None]:
    """Keep the libraries' chatter off the console while the demo runs: MLflow's progress bars and
    INFO logs (its own settings, MLFLOW_*), Dagster's beta/preview and third-party
    UserWarnings (warning filters), and whatever else they write to stderr (held back, and printed
    if the demo fails). The Dagster event log keeps every step's log; ``--verbose`` shows it all."""
    if verbose:
        yield
        return
    os.environ.update(QUIET_ENV)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    held = io.StringIO()
    with warnings.catch_warnings():
        from dagster import BetaWarning, PreviewWarning

        for category in (BetaWarning, PreviewWarning):
            warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("ignore", message=r"torch\.meshgrid", category=UserWarning)
        warnings.filterwarnings(
            "ignore", message=r".*Add type hints to the `predict` method", category=UserWarning
        )
        try:
            with contextlib.redirect_stderr(held):
                yield
        except BaseException:
            sys.stderr.write(held.getvalue())
            raise


def cmd_demo(args: argparse.Namespace) -> int:
    from sec_assets.demo.data import write_demo_dataset

    settings = demo_settings(Path(args.home).absolute() if args.home else None)
    audio, box = settings.landing, settings.inbox_path
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
    truth = write_demo_dataset(audio, files_per_class=args.files_per_class, seed=settings.seed, hard=True)
    classes = len({t.audio_class for t in truth})
    print(
        f"demo: {len(truth)} recordings of {classes} classes ({sum(t.corrupt for t in truth)} corrupt) "
        f"in {audio}\n"
        "demo: noisy, overlapping sound events (sec_assets/demo/data.py); split fractions "
        + ", ".join(f"{k} {v}" for k, v in settings.split_fractions.items())
    )
    print(
        f"demo: materializing every asset of every partition (DAGSTER_HOME={ensure_dagster_home(settings)})"
    )
    log_level = "WARNING" if args.verbose else "ERROR"
    with quiet(args.verbose):
        run_everything(settings, log_level=log_level)
        shutil.rmtree(box, ignore_errors=True)  # new, unlabeled recordings (another seed) for the champions
        unlabeled = write_demo_dataset(box, files_per_class=1, seed=settings.seed + 1, hard=True)
        labelled = label_inbox(settings, log_level=log_level)
    print(f"demo: done in {time.perf_counter() - started:.0f} s\n")
    summary(settings, labelled, len(unlabeled))
    return 0


def _support(report: dict[str, Any], split: str) -> str:
    """'4–6 segments per class (5 classes, 26 in all)' of the selected candidate on ``split``."""
    res = report["results"].get(f"{report['selected']}|{split}", {})
    counts = [c["support"] for c in res.get("per_class", {}).values()]
    if not counts:
        return "no segments"
    low, high = min(counts), max(counts)
    spread = f"{low}" if low == high else f"{low}–{high}"
    return f"{spread} segments per class ({len(counts)} classes, {sum(counts)} in all)"


def summary(settings: Settings, labelled: dict[str, object], inbox_files: int) -> None:
    """The demo's result in a few plain lines, from the catalog and the reports."""
    from sec_assets.core.store.catalog import catalog_path, query

    home = settings.home
    evals = query(
        home,
        "SELECT octave, accuracy, macro_f1, macro_f1_ci_low, macro_f1_ci_high, report_path "
        "FROM evaluations WHERE split = 'test' AND selected ORDER BY octave",
    )
    print("results on the test recordings (each octave's candidate chosen on valid; 95 % CI by recording):")
    for row in evals.iter_rows(named=True):
        report = json.loads(Path(row["report_path"]).with_name("report.json").read_text())
        registry = report["registry"]
        f1 = f"{row['macro_f1']:.3f} [{row['macro_f1_ci_low']:.3f}, {row['macro_f1_ci_high']:.3f}]"
        print(
            f"1/{row['octave']:<2} octave: test accuracy {row['accuracy']:.3f}, macro-F1 {f1}; "
            f"selected {report['selected']} "
            f"→ registry: {registry['name']} v{registry['version']} @{registry['alias'] or '-'}"
        )
        print(f"      support: test {_support(report, 'test')}; valid {_support(report, 'valid')}")
    comparison = home / "reports" / "octave_comparison" / "comparison.md"
    recommended = next(
        (line.strip() for line in comparison.read_text().splitlines() if "recommended: 1/" in line), ""
    )
    if recommended:
        print(f"octave comparison, {recommended}")
    random_init = query(home, "SELECT bool_or(random_init) FROM embeddings").item()
    zs = query(home, "SELECT status, notice, accuracy, mean_average_precision FROM zero_shot").row(
        0, named=True
    )
    if zs["status"] == "ok":
        flag = " (random-init CLAP: a chance-level check, not a baseline)" if random_init else ""
        print(
            f"zero-shot baseline{flag}: accuracy {zs['accuracy']:.3f}, mAP {zs['mean_average_precision']:.3f}"
        )
    else:
        print(f"zero-shot baseline: {zs['notice']}")
    if random_init:
        print(
            "CLAP: random-init weights (the model store is empty), so the 'clap' features are a fixed "
            "random projection; `sec-assets models fetch` for the real model"
        )
    failed = query(home, "SELECT count(*) FROM audio_files WHERE status = 'failed'").item()
    print(
        f"inbox: {labelled['labelled']} of {inbox_files} new recordings labelled by {labelled['models']} "
        f"({labelled['failed']} failed)"
    )
    print(f"failed files: {failed} (the demo's corrupt upload, recorded; not fatal)")
    print("\nfiles:")
    print(f"  reports:           {home / 'reports'}/octave=<n>/report.md")
    print(f"  octave comparison: {comparison} (plot: {comparison.with_suffix('.png')})")
    print(f"  predictions:       {home / 'predictions' / 'combined.csv'}")
    print(f'  catalog:           {catalog_path(home)}  (sec-assets catalog "SELECT * FROM evaluations")')
    print(f"  MLflow:            mlflow ui --backend-store-uri {settings.tracking_uri}")
