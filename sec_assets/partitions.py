"""Partitions: audio class (dynamic, added when audio lands) × octave resolution (static)."""

from __future__ import annotations

from dagster import (
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from sec_assets.core.settings import load_settings

AUDIO_CLASS = "audio_class"
OCTAVE = "octave"

audio_class_partitions = DynamicPartitionsDefinition(name=AUDIO_CLASS)
octave_partitions = StaticPartitionsDefinition([str(n) for n in load_settings().octaves])
class_octave_partitions = MultiPartitionsDefinition(
    {AUDIO_CLASS: audio_class_partitions, OCTAVE: octave_partitions}
)


def class_octave_key(audio_class: str, octave: int | str) -> MultiPartitionKey:
    return MultiPartitionKey({AUDIO_CLASS: audio_class, OCTAVE: str(octave)})
