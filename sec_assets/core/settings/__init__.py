"""Project settings, declared once: typed defaults ← a YAML file ← ``SEC_*`` environment variables.

Every setting is a field of exactly one **stage group** of :mod:`sec_assets.core.settings.groups`
(paths, files, dataset, segments, spectrograms, embeddings, training, tracking, inference,
sensors, service, runtime; ``docs/reference/settings.md`` is generated from them); :class:`Settings` is
all groups together, flat, so YAML keys, environment variables and the Dagster launchpad use the
same names. The Dagster resource (:mod:`sec_assets.resources`) is generated from these fields —
nothing is declared twice — and validates through :class:`Settings`, so a bad value fails with
the setting's name and the allowed values wherever it entered. Each stage reads its own group
(``settings.spectrograms``, …) or the algorithm's parameters derived from it
(``settings.segment_params()``, ``settings.dataset()``).

The YAML file is ``$SEC_CONFIG`` if set, else ``configs/sec.yaml`` of this project (next to the
package — never the working directory, so the octave partitions do not depend on where a process
started). Later layers win: defaults, the file, the environment, explicit overrides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError, model_validator

from sec_assets.core.audio.manifest import FilePolicy
from sec_assets.core.audio.samples import SamplePolicy
from sec_assets.core.audio.segments import SegmentParams
from sec_assets.core.datasets.source import DatasetSpec
from sec_assets.core.features.spectrogram import LevelParams
from sec_assets.core.settings.groups import (
    GROUPS,
    DatasetSettings,
    EmbeddingSettings,
    FileSettings,
    InferenceSettings,
    PathSettings,
    RuntimeSettings,
    SegmentSettings,
    SensorSettings,
    ServiceSettings,
    SpectrogramSettings,
    TrackingSettings,
    TrainingSettings,
)

__all__ = [
    "ENV_FIELDS",
    "GROUPS",
    "PROJECT_CONFIG",
    "Settings",
    "SettingsError",
    "load_settings",
    "settings_file",
    "validated",
]

PROJECT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "sec.yaml"

# environment variable → setting (the only place an SEC_* setting variable is named)
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
    "SEC_TORCH_THREADS": "torch_threads",
    "SEC_MLFLOW_TRACKING_URI": "mlflow_tracking_uri",
    "SEC_MLFLOW_UI_URL": "mlflow_ui_url",
    "SEC_INBOX": "inbox",
    "SEC_CLASSES_PER_RUN": "classes_per_run",
    "SEC_SEGMENT_STORAGE": "segment_storage",
    "SEC_SEGMENT_VIEWS": "segment_views",
    "SEC_DATASET_TABLE": "dataset_table",
    "SEC_SERVE_HOST": "serve_host",
    "SEC_SERVE_PORT": "serve_port",
}


class SettingsError(ValueError):
    """A setting with a bad value; the message names the setting, where it came from and what is allowed."""


class Settings(
    PathSettings,
    FileSettings,
    DatasetSettings,
    SegmentSettings,
    SpectrogramSettings,
    EmbeddingSettings,
    TrainingSettings,
    TrackingSettings,
    InferenceSettings,
    SensorSettings,
    ServiceSettings,
    RuntimeSettings,
):
    """Every tunable of the pipeline (all groups, flat); paths are resolved to absolute paths."""

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        home = self.home.expanduser().absolute()
        object.__setattr__(self, "home", home)
        for name, default in (
            ("audio_root", home / "landing"),
            ("models", home / "models"),
            ("inbox", home / "inbox"),
        ):
            value = getattr(self, name)
            object.__setattr__(self, name, (value or default).expanduser().absolute())
        if self.dataset_table is not None:
            object.__setattr__(self, "dataset_table", self.dataset_table.expanduser().absolute())
        return self

    def dataset(self) -> DatasetSpec:
        """Where the classes and their files come from (a table or class folders), and the protocol."""
        return DatasetSpec(
            audio_root=self.landing,
            table=self.dataset_table,
            columns=self.dataset_columns,
            group_pattern=self.group_pattern,
            test_fold=self.test_fold,
            valid_fold=self.valid_fold,
        )

    @property
    def landing(self) -> Path:
        assert self.audio_root is not None  # resolved by the validator
        return self.audio_root

    @property
    def inbox_path(self) -> Path:
        assert self.inbox is not None  # resolved by the validator
        return self.inbox

    @property
    def model_store(self) -> Path:
        assert self.models is not None  # resolved by the validator
        return self.models

    def file_policy(self) -> FilePolicy:
        """The manifest's grading of decodable files (its identity in lineage)."""
        return FilePolicy(
            samples=SamplePolicy(self.non_finite_samples, self.over_full_scale),
            min_clip_seconds=self.min_clip_seconds,
            formats=self.audio_formats,
        )

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI: the setting, else a SQLite store under home (works with no server)."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def tracking(self) -> TrackingSettings:
        return TrackingSettings.pick(self)

    @property
    def spectrograms(self) -> SpectrogramSettings:
        return SpectrogramSettings.pick(self)

    @property
    def embeddings(self) -> EmbeddingSettings:
        return EmbeddingSettings.pick(self)

    @property
    def service(self) -> ServiceSettings:
        return ServiceSettings.pick(self)

    @property
    def training(self) -> TrainingSettings:
        return TrainingSettings.pick(self)

    def level_params(self, n: int) -> LevelParams:
        """The filterbank's parameters for 1/n octave (its identity in lineage)."""
        return LevelParams(
            n=n,
            sample_rate=self.target_sample_rate,
            frame_seconds=self.frame_seconds,
            reference=self.level_reference,
            floor_db=self.floor_db,
            base=self.octave_base,
        )

    def segment_params(self) -> SegmentParams:
        """The segmenter's parameters (its identity in lineage) from the segment group and the seed."""
        return SegmentParams(
            sample_rate=self.target_sample_rate,
            segment_seconds=self.segment_seconds,
            hop_seconds=self.hop_seconds or self.segment_seconds,
            min_segment_seconds=self.min_segment_seconds,
            min_clip_seconds=self.min_clip_seconds,
            noise_mix=self.noise_mix,
            augment_probability=self.augment_probability,
            gain_db_range=self.gain_db_range,
            time_shift_seconds=self.time_shift_seconds,
            seed=self.seed,
            channel=self.channel,
            target_segments=self.target_segments_per_class,
            max_rounds=self.max_rounds,
        )


def validated(values: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> Settings:
    """``Settings(**values)``; a bad value raises :class:`SettingsError` naming each setting, where it
    came from (``sources``: setting → e.g. "SEC_SEED" or "configs/sec.yaml") and the problem."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        sources = sources or {}
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            top = str(err["loc"][0]) if err["loc"] else ""
            origin = f" (from {sources[top]})" if top in sources else ""
            given = f", got {err['input']!r}" if "input" in err and not isinstance(err["input"], dict) else ""
            lines.append(f"setting {name!r}{origin}: {err['msg']}{given}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


def settings_file(env: Mapping[str, str] | None = None) -> Path:
    """The settings file :func:`load_settings` reads: ``$SEC_CONFIG`` if set, else the project's
    (it need not exist)."""
    env = os.environ if env is None else env
    return Path(env["SEC_CONFIG"]) if env.get("SEC_CONFIG") else PROJECT_CONFIG


def load_settings(
    config_file: Path | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Defaults ← YAML ← environment ← explicit keyword overrides (None means "not given")."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if config_file is None:
        config_file = Path(env["SEC_CONFIG"]) if env.get("SEC_CONFIG") else None
    path = config_file or settings_file(env)
    if path.is_file():
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
        unknown = sorted(set(loaded) - set(Settings.model_fields))
        if unknown:
            raise SettingsError(
                f"{path}: unknown setting(s) {unknown}; the settings are {sorted(Settings.model_fields)}"
            )
        values.update(loaded)
        sources.update({k: str(path) for k in loaded})
    elif config_file is not None:
        raise FileNotFoundError(f"settings file {path} does not exist (SEC_CONFIG)")
    for var, name in ENV_FIELDS.items():
        if env.get(var):
            values[name] = env[var]
            sources[name] = f"{var}={env[var]!r}"
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    sources.update({k: "an explicit override" for k in given})
    return validated(values, sources)
