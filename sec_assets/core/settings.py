"""Project settings: typed defaults ← ``configs/*.yaml`` ← environment variables.

One source of truth shared by the CLI, the Dagster resources and notebooks. Later layers win:
the built-in defaults, then the YAML file named by ``SEC_CONFIG`` (default ``configs/sec.yaml``
in the working directory, if present), then ``SEC_*`` environment variables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    field_validator,
    model_validator,
)

SPLITS = ("train", "es", "valid", "test")

# environment variable → settings field
ENV_FIELDS = {
    "SEC_HOME": "home",
    "SEC_AUDIO_ROOT": "audio_root",
    "SEC_MODELS": "models",
    "SEC_TARGET_SAMPLE_RATE": "target_sample_rate",
    "SEC_SEGMENT_SECONDS": "segment_seconds",
    "SEC_OCTAVES": "octaves",
    "SEC_SEED": "seed",
    "SEC_TARGET_SEGMENTS": "target_segments_per_class",
    "SEC_SPECTROGRAM_DEVICE": "spectrogram_device",
    "SEC_EMBED_DEVICE": "embed_device",
    "SEC_ALLOW_RANDOM_INIT": "allow_random_init",
}


class Settings(BaseModel):
    """Every tunable of the pipeline; paths are resolved to absolute paths."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(Path(".sec"), description="root of all outputs (SEC_HOME)")
    audio_root: Path | None = Field(
        None,
        description="landing folder, one sub-folder per class (SEC_AUDIO_ROOT); default <home>/landing",
    )
    models: Path | None = Field(None, description="model store (SEC_MODELS); default <home>/models")
    target_sample_rate: int = Field(44100, gt=0, description="segments are resampled to this rate")
    segment_seconds: float = Field(7.0, gt=0)
    hop_seconds: float | None = Field(None, gt=0, description="default: segment_seconds")
    min_segment_seconds: float = Field(
        1.0, ge=0, description="a last partial window shorter than this is dropped"
    )
    octaves: tuple[int, ...] = Field((1, 3, 6, 12, 24), description="bands per octave")
    frame_seconds: float = Field(0.1, gt=0, description="spectrogram frame length")
    channel: Literal["mean"] | NonNegativeInt = Field(
        "mean", description="multi-channel files: 'mean' of the channels, or one channel by index"
    )
    target_segments_per_class: PositiveInt | None = Field(
        None, description="extra rounds at random offsets until a class has this many segments"
    )
    max_rounds: PositiveInt = Field(16, description="rounds per class at most (round 0 included)")
    noise_mix: float = Field(0.3, ge=0, le=1, description="fraction of noise mixed in")
    gain_db_range: tuple[float, float] = Field((0.0, 0.0), description="random gain, dB (low, high)")
    time_shift_seconds: float = Field(0.0, ge=0, description="random circular shift up to ± this")
    octave_base: Literal[2, 10] = Field(2, description="2: the predecessor's grid; 10: IEC 61260-1")
    level_reference: Literal["20uPa", "dBFS"] = Field("20uPa", description="dB re 20 µPa or dBFS")
    floor_db: float = Field(-100.0, description="level reported for silence (never -inf)")
    spectrogram_device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda'")
    spectrogram_batch_size: PositiveInt = Field(16, description="segments read per batch and per GPU call")
    seed: int = 0
    split_fractions: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.6, "es": 0.1, "valid": 0.15, "test": 0.15}
    )
    embed_batch_size: PositiveInt = Field(16, description="segments per prefetched batch")
    embed_workers: PositiveInt = Field(2, description="background threads preparing batches")
    embed_device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda'")
    embed_precision: Literal["bf16", "fp32"] = Field("bf16", description="on CUDA; CPU runs fp32")
    embed_gpu_batch_size: NonNegativeInt = Field(0, description="clips per GPU forward; 0: from free memory")
    embed_commit_rows: PositiveInt = Field(1024, description="new vectors per resume shard (or 30 s)")
    allow_random_init: bool = Field(
        False, description="embed with a random-init CLAP (loudly flagged) when the store has no weights"
    )
    classifier_epochs: int = Field(150, gt=0)
    classifier_patience: int = Field(10, gt=0)
    classifier_learning_rate: float = Field(0.01, gt=0)

    @field_validator("octaves", mode="before")
    @classmethod
    def _parse_octaves(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        return tuple(int(v) for v in value)

    @field_validator("octaves")
    @classmethod
    def _check_octaves(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(v <= 0 for v in value):
            raise ValueError("octaves must be a non-empty list of positive integers")
        return tuple(sorted(set(value)))

    @field_validator("channel", mode="before")
    @classmethod
    def _parse_channel(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.isdigit() else value

    @field_validator("gain_db_range")
    @classmethod
    def _check_gain(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError(f"gain_db_range must be (low, high) with low ≤ high, got {value}")
        return value

    @field_validator("split_fractions")
    @classmethod
    def _check_splits(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != set(SPLITS):
            raise ValueError(f"split_fractions needs exactly the keys {SPLITS}, got {sorted(value)}")
        if any(v < 0 for v in value.values()) or abs(sum(value.values()) - 1.0) > 1e-6:
            raise ValueError("split_fractions must be non-negative and sum to 1")
        if value["train"] <= 0 or value["test"] <= 0:
            raise ValueError("split_fractions needs train > 0 and test > 0")
        return value

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        home = self.home.expanduser().absolute()
        object.__setattr__(self, "home", home)
        for name, default in (("audio_root", home / "landing"), ("models", home / "models")):
            value = getattr(self, name)
            object.__setattr__(self, name, (value or default).expanduser().absolute())
        return self

    @property
    def landing(self) -> Path:
        assert self.audio_root is not None  # resolved by the validator
        return self.audio_root

    @property
    def model_store(self) -> Path:
        assert self.models is not None  # resolved by the validator
        return self.models


def load_settings(
    config_file: Path | None = None, env: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    """Defaults ← YAML ← environment ← explicit keyword overrides."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    path = config_file or Path(env.get("SEC_CONFIG", "configs/sec.yaml"))
    if path.is_file():
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
        values.update(loaded)
    elif config_file is not None or "SEC_CONFIG" in env:
        raise FileNotFoundError(f"settings file {path} does not exist")
    for var, field in ENV_FIELDS.items():
        if env.get(var):
            values[field] = env[var]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
