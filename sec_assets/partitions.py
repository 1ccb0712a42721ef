"""Partitions: audio class (dynamic, added when audio lands) × octave resolution (static)."""

from __future__ import annotations

from dagster import (
    BackfillPolicy,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from sec_assets.core.settings import load_settings
from sec_assets.core.store.schemas import AUDIO_CLASS, OCTAVE

__all__ = ["AUDIO_CLASS", "OCTAVE"]  # the dimension names are the storage contract's


_LOADED = load_settings()  # the settings that shape the code location (resources.NOT_PER_RUN)

audio_class_partitions = DynamicPartitionsDefinition(name=AUDIO_CLASS)
octave_partitions = StaticPartitionsDefinition([str(n) for n in _LOADED.octaves])
class_octave_partitions = MultiPartitionsDefinition(
    {AUDIO_CLASS: audio_class_partitions, OCTAVE: octave_partitions}
)


def class_backfill_policy(classes_per_run: int) -> BackfillPolicy:
    """How a backfill of the per-class assets (and of ``octave_spectrograms``, per octave) becomes
    runs: ``multi_run(K)`` — ceil(N/K) runs of K classes, which Dagster's backfill daemon launches
    side by side (on Slurm, on as many nodes), each run's steps one job looping over its K classes —
    or, for K = 0, ``single_run()``: one run for any N, which `dagster asset materialize
    --partition-range` requires."""
    return BackfillPolicy.single_run() if classes_per_run == 0 else BackfillPolicy.multi_run(classes_per_run)


CLASS_BACKFILL = class_backfill_policy(_LOADED.classes_per_run)


# a run's tags for a partition range (what a backfill chunk or `--partition-range` sets): one run,
# every partition of the range, each written on its own by the assets' per-partition loop
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def class_octave_key(audio_class: str, octave: int | str) -> MultiPartitionKey:
    return MultiPartitionKey({AUDIO_CLASS: audio_class, OCTAVE: str(octave)})
