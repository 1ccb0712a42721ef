"""What a user with scripts does today: one sbatch job per class that calls the core directly.

    python -m sec_assets.benchmarks.plain_class <class_dir> <out_dir> <models>

Scans the class folder, segments every file, embeds every segment with CLAP and writes
``<out_dir>/<class>.npz``. The backfill benchmark submits one of these per class and compares
the wall time with the same classes materialized through Dagster and the submitit executor.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from sec_assets.core.audio.manifest import scan_class, source_files
from sec_assets.core.audio.segments import SegmentParams, plan_class, segment_source
from sec_assets.core.features import clap, clap_store


def run(class_dir: Path, out_dir: Path, models: Path) -> Path:
    torch.set_num_threads(1)
    name = class_dir.name
    sources, _ = source_files(scan_class(class_dir, name, name))
    params = SegmentParams()
    plan = plan_class(sources, params, name)
    segments = [s for src in sources for s in segment_source(src, plan[src.sha256], name, params)]
    model = clap.load_clap(clap_store.resolve_model_files(models, allow_random_init=True))
    vectors = [model.embed(clap.prepare_clip(s.audio, params.sample_rate)).mean(axis=0) for s in segments]
    out = out_dir / f"{name}.npz"
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out, keys=np.array([s.key for s in segments]), vectors=np.array(vectors, dtype=np.float32))
    return out


if __name__ == "__main__":
    print(run(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
