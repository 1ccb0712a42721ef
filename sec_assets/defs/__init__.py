"""The Dagster shell, one module per stage; each stage is an asset group in the UI.

``ingest`` (raw_manifest, splits, augmented_segments) → ``features`` (clap_embeddings,
octave_spectrograms) → ``training`` (trained_classifier) → ``evaluation`` (evaluation_report with
the registry gate) → ``comparison`` (octave_comparison); ``baselines`` holds zero_shot_baseline;
``inference`` labels new recordings (inbox_predictions); ``monitoring`` watches what the champions
predict in use against their test sets (prediction_drift). ``splits`` (per class, from the
manifest) runs before segmentation: a file's split decides whether its segments are augmented.
The sensors and the jobs they launch are in :mod:`.sensors`. What the stages share is in
``_shared``. Asset functions only wire :mod:`sec_assets.core` to partitions, storage, metadata
and the ``sec`` resource.
"""

from sec_assets.defs import (
    baselines,
    comparison,
    evaluation,
    features,
    inference,
    ingest,
    monitoring,
    splits,
    training,
)
from sec_assets.defs.sensors import inbox, landing, retrain

STAGES = (
    ingest,
    splits,
    features,
    training,
    evaluation,
    baselines,
    comparison,
    inference,
    monitoring,
    landing,
    retrain,
    inbox,
)
ALL_ASSETS = [
    *ingest.ASSETS,
    *splits.ASSETS,
    *features.ASSETS,
    *training.ASSETS,
    *evaluation.ASSETS,
    *baselines.ASSETS,
    *comparison.ASSETS,
    *inference.ASSETS,
    *monitoring.ASSETS,
]
