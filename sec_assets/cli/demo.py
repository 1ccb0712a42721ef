"""``sec-assets demo``: synthesize a demo dataset and materialize everything in this process."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from sec_assets.core.settings import load_settings
from sec_assets.instance import ensure_dagster_home
from sec_assets.local_run import label_inbox, run_everything


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthesize a demo dataset and materialize everything locally")
    p.add_argument("--home", help="output root (default: SEC_HOME or ./.sec)")
    p.add_argument("--files-per-class", type=int, default=6)
    p.set_defaults(func=cmd_demo)


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
