"""The Dagster shell, one module per stage; each stage is an asset group in the UI.

``ingest`` (raw_manifest, augmented_segments) → ``features`` (clap_embeddings,
octave_spectrograms) → ``training`` (trained_classifier) → ``evaluation`` (evaluation_report with
the registry gate) → ``comparison`` (octave_comparison); ``baselines`` holds zero_shot_baseline;
``inference`` labels new recordings (inbox_predictions). ``training.splits`` (per class, from
the manifest) sits between raw_manifest and augmented_segments: a file's split decides whether
its segments are augmented. ``automation`` holds the landing sensor and the class job,
``retraining`` the sensor that retrains every octave once per burst of class changes,
``inbox_sensor`` the inbox sensor and its job. What the stages share is
in ``_shared``. Asset functions only wire :mod:`sec_assets.core` to partitions, storage,
metadata and the ``sec`` resource.
"""

from sec_assets.defs import (
    automation,
    baselines,
    comparison,
    evaluation,
    features,
    inbox_sensor,
    inference,
    ingest,
    retraining,
    training,
)

STAGES = (
    ingest,
    features,
    training,
    evaluation,
    baselines,
    comparison,
    inference,
    automation,
    retraining,
    inbox_sensor,
)
ALL_ASSETS = [
    *ingest.ASSETS,
    *features.ASSETS,
    *training.ASSETS,
    *evaluation.ASSETS,
    *baselines.ASSETS,
    *comparison.ASSETS,
    *inference.ASSETS,
]
