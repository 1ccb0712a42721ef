"""The settings' stage groups: every setting is a field of exactly one group below (paths, files,
dataset, segments, spectrograms, embeddings, training, tracking, inference, sensors, service, runtime).
:class:`sec_assets.core.settings.Settings` is all of them together, flat; ``docs/reference/
settings.md`` is generated from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    field_validator,
    model_validator,
)

from sec_assets.core.audio.samples import NonFinitePolicy, OverFullScalePolicy
from sec_assets.core.audio.segments import SegmentStorage
from sec_assets.core.audio.splits import SPLITS
from sec_assets.core.audio.views import SegmentViews
from sec_assets.core.datasets.groups import compile_group_pattern
from sec_assets.core.datasets.table import DatasetColumns
from sec_assets.core.models.candidates import DEFAULT_CANDIDATES, Candidate
from sec_assets.core.settings.base import Group
from sec_assets.core.settings.service import ServiceSettings

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"
DEVICE_HELP = "'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:<index>'"

TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql")


class PathSettings(Group):
    home: Path = Field(Path(".sec"), description="root of all outputs (SEC_HOME)")
    audio_root: Path | None = Field(
        None,
        description="landing folder, one sub-folder per class (SEC_AUDIO_ROOT); default <home>/landing",
    )
    models: Path | None = Field(None, description="model store (SEC_MODELS); default <home>/models")


class DatasetSettings(Group):
    """Where the classes come from — one folder per class, or a dataset table — and its protocol:
    source groups that never straddle splits, official folds."""

    dataset_table: Path | None = Field(
        None,
        description="the dataset's metadata table, CSV, TSV or Parquet (SEC_DATASET_TABLE): one row per "
        "clip, paths relative to audio_root, labels become the classes; unset: one folder per class",
    )
    dataset_columns: DatasetColumns = Field(
        default_factory=lambda: DatasetColumns(path="path", label="label"),
        description="the table's column per role: path, label, and optionally group, fold, start_s/end_s "
        "(a clip inside a longer file); other columns are kept as metadata (JSON in the launchpad)",
    )
    group_pattern: str | None = Field(
        None,
        description="regex over a file's path relative to audio_root whose group (?P<group>…) is its "
        "source group (speaker, recorder, site), e.g. _(?P<group>[a-z]+)_ for FSDD; a table's group "
        "column wins",
    )
    test_fold: int | None = Field(
        None, description="follow the table's official folds: this fold is the test split"
    )
    valid_fold: int | None = Field(
        None,
        description="with test_fold: this fold is the validation split; unset: validation is carved "
        "from the training folds by group",
    )

    @field_validator("dataset_columns", mode="before")
    @classmethod
    def _parse_columns(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("group_pattern")
    @classmethod
    def _check_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            compile_group_pattern(value)  # a ValueError naming group_pattern
        return value or None

    @model_validator(mode="after")
    def _check_folds(self) -> DatasetSettings:
        if self.test_fold is not None and self.dataset_table is None:
            raise ValueError("test_fold needs a dataset_table with a fold column (set dataset_table)")
        if self.test_fold is not None and self.dataset_columns.fold is None:
            raise ValueError("test_fold needs dataset_columns.fold: the table's fold column")
        if self.valid_fold is not None and self.test_fold is None:
            raise ValueError("valid_fold needs test_fold (validation follows a fold only when test does)")
        if self.valid_fold is not None and self.valid_fold == self.test_fold:
            raise ValueError(f"valid_fold and test_fold are both {self.test_fold}: they must differ")
        return self


class FileSettings(Group):
    """Which decodable files are usable, and what is done to their samples (graded in raw_manifest)."""

    non_finite_samples: NonFinitePolicy = Field(
        "fail", description="NaN/±inf samples: 'fail' the file (reason names them) or set them to 'zero'"
    )
    over_full_scale: OverFullScalePolicy = Field(
        "scale", description="float samples beyond ±1: 'scale' the file by 1/peak, 'clip' to ±1, or 'fail'"
    )
    min_clip_seconds: float = Field(
        0.1, gt=0, description="a file shorter than one segment needs this much audio (repeat-padded)"
    )
    audio_formats: tuple[str, ...] = Field(
        (), description="file extensions a class's manifest lists, e.g. [wav, flac]; empty: every file"
    )

    @field_validator("audio_formats", mode="before")
    @classmethod
    def _parse_formats(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if isinstance(value, list | tuple):
            return tuple(str(v).strip().lower().lstrip(".") for v in value)
        return value

    @field_validator("audio_formats")
    @classmethod
    def _check_formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not v.isalnum()]
        if bad:
            raise ValueError(f"audio_formats are file extensions such as wav or flac, got {bad}")
        return tuple(sorted(set(value)))


class SegmentSettings(Group):
    target_sample_rate: PositiveInt = Field(44100, description="segments are resampled to this rate")
    segment_seconds: float = Field(7.0, gt=0, description="segment length")
    hop_seconds: float | None = Field(None, gt=0, description="default: segment_seconds")
    min_segment_seconds: float = Field(
        1.0, ge=0, description="a last partial window shorter than this is dropped"
    )
    channel: Literal["mean"] | NonNegativeInt = Field(
        "mean", description="multi-channel files: 'mean' of the channels, or one channel by index"
    )
    target_segments_per_class: PositiveInt | None = Field(
        None, description="extra rounds at random offsets until a class has this many segments"
    )
    max_rounds: PositiveInt = Field(16, description="rounds per class at most (round 0 included)")
    noise_mix: float = Field(0.3, ge=0, le=1, description="fraction of noise mixed in")
    augment_probability: float = Field(
        0.5, ge=0, le=1, description="share of train/es segments augmented (stable per key); valid/test: none"
    )
    gain_db_range: tuple[float, float] = Field(
        (0.0, 0.0), description="random gain, dB (low, high), within [-60, 40] (float16 storage)"
    )
    time_shift_seconds: float = Field(0.0, ge=0, description="random circular shift up to ± this")
    segment_storage: SegmentStorage = Field(
        "pcm",
        description="how segments store their audio (SEC_SEGMENT_STORAGE): pcm (float16 bytes, ≈ 0.9 × "
        "the 16-bit source per round) or recipe (source, window and augmentation draws only; the "
        "audio is regenerated from the source file on every read and checked against its digest)",
    )

    segment_views: SegmentViews = Field(
        "by_split",
        description="which segments a file gets (SEC_SEGMENT_VIEWS): by_split (train/es files augmented, "
        "valid/test clean) or both (every file both, whatever its split: what sec-assets crossval "
        "needs, so features are computed once for every fold)",
    )

    @field_validator("channel", mode="before")
    @classmethod
    def _parse_channel(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.isdigit() else value

    @field_validator("gain_db_range")
    @classmethod
    def _check_gain(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError(f"gain_db_range must be (low, high) with low ≤ high, got {value}")
        if value[0] < -60 or value[1] > 40:
            raise ValueError(f"gain_db_range must lie within [-60, 40] dB, got {value}")
        return value


class SpectrogramSettings(Group):
    octaves: tuple[int, ...] = Field((1, 3, 6, 12, 24), description="bands per octave (static partitions)")
    frame_seconds: float = Field(0.1, gt=0, description="spectrogram frame length")
    octave_base: Literal[2, 10] = Field(2, description="2: the predecessor's grid; 10: IEC 61260-1")
    level_reference: Literal["20uPa", "dBFS"] = Field("20uPa", description="dB re 20 µPa or dBFS")
    floor_db: float = Field(-100.0, description="level reported for silence (never -inf)")
    spectrogram_device: str = Field("auto", pattern=DEVICE_PATTERN, description=DEVICE_HELP)
    spectrogram_batch_size: PositiveInt = Field(16, description="segments read per batch and per GPU call")

    @field_validator("octaves", mode="before")
    @classmethod
    def _parse_octaves(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        return value

    @field_validator("octaves")
    @classmethod
    def _check_octaves(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(v <= 0 for v in value):
            raise ValueError("octaves must be a non-empty list of positive integers")
        return tuple(sorted(set(value)))


class EmbeddingSettings(Group):
    embed_batch_size: PositiveInt = Field(16, description="segments per prefetched batch")
    embed_workers: PositiveInt = Field(2, description="background threads preparing batches")
    embed_device: str = Field("auto", pattern=DEVICE_PATTERN, description=DEVICE_HELP)
    embed_precision: Literal["bf16", "fp32"] = Field("bf16", description="on CUDA; CPU runs fp32")
    embed_gpu_batch_size: NonNegativeInt = Field(0, description="clips per GPU forward; 0: from free memory")
    embed_commit_rows: PositiveInt = Field(1024, description="new vectors per resume shard (or 30 s)")
    allow_random_init: bool = Field(
        False, description="embed with a random-init CLAP (loudly flagged) when the store has no weights"
    )


class TrainingSettings(Group):
    split_fractions: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.6, "es": 0.1, "valid": 0.15, "test": 0.15},
        description="share of source files per split (train, es, valid, test), stratified by class",
    )
    candidates: tuple[Candidate, ...] = Field(
        default_factory=lambda: tuple(Candidate.model_validate(c) for c in DEFAULT_CANDIDATES),
        description="models trained per octave: feature set, head and fit (JSON list in the "
        "launchpad); the best validation macro-F1 becomes the octave's model",
    )

    bootstrap_resamples: PositiveInt = Field(
        200, description="bootstrap resamples (of source files) for the reports' 95 % intervals"
    )

    @field_validator("candidates", mode="before")
    @classmethod
    def _parse_candidates(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value)
        if not value:
            raise ValueError("candidates needs at least one {features, head} entry")
        return value

    @field_validator("candidates")
    @classmethod
    def _unique_candidates(cls, value: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
        ids = [c.id for c in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"candidates lists the same model twice: {sorted(ids)}")
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


class TrackingSettings(Group):
    """MLflow tracking, the model registry and the gate that moves the ``champion`` alias."""

    mlflow_tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI (SEC_MLFLOW_TRACKING_URI); default sqlite:///<home>/mlflow/"
        "mlflow.db (no server); on a cluster the http(s):// URL of an mlflow server",
    )
    mlflow_ui_url: str | None = Field(
        None, description="MLflow UI base URL for links in the metadata; default: an http(s) tracking URI"
    )
    mlflow_experiment: str = Field("sec_assets", min_length=1, description="MLflow experiment of the runs")
    registered_model_prefix: str = Field(
        "sec-classifier", pattern=r"^[A-Za-z0-9_.-]+$", description="registry name: <prefix>-oct<n>"
    )
    gate_min_test_map: float = Field(0.5, ge=0, le=1, description="champion gate: test macro mAP at least")
    gate_min_test_macro_f1: float = Field(
        0.5, ge=0, le=1, description="champion gate: test macro-F1 at least"
    )
    gate_tolerance: float = Field(
        0.0,
        ge=0,
        le=1,
        description="champion gate: on the same test set, the new version loses when the 95 % paired "
        "bootstrap interval of its macro-F1 or mAP change lies below -gate_tolerance",
    )

    @field_validator("mlflow_tracking_uri")
    @classmethod
    def _check_uri(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if "://" not in value or scheme not in TRACKING_SCHEMES:
            hint = " (MLflow 3.17 refuses the plain file store)" if scheme in ("file", value) else ""
            raise ValueError(
                f"mlflow_tracking_uri must be a {', '.join(s + '://' for s in TRACKING_SCHEMES)} "
                f"URI{hint}, e.g. sqlite:////shared/sec/mlflow/mlflow.db or http://host:5000"
            )
        return value


class InferenceSettings(Group):
    """Labelling new recordings (``inbox_predictions``) with each octave's ``champion``."""

    inbox: Path | None = Field(
        None, description="unlabeled recordings to label (SEC_INBOX); default <home>/inbox"
    )
    window_seconds: float | None = Field(
        None,
        gt=0,
        description="inference window length; default: the champion's own training segment_seconds "
        "(logged with its run; a model trained before that record: the segment_seconds setting); set "
        "by hand, a length other than a champion's is warned about",
    )
    window_hop_seconds: float | None = Field(
        None,
        gt=0,
        description="inference window hop; default: the champion's training hop_seconds, or the window "
        "when window_seconds is set by hand",
    )
    min_window_seconds: float | None = Field(
        None,
        ge=0,
        description="a last partial window at least this long is repeat-padded, shorter: dropped; "
        "default: the champion's training min_segment_seconds",
    )
    top_k: PositiveInt = Field(3, description="labels per window in the result tables")
    min_confidence: float = Field(0.1, ge=0, le=1, description="labels below this probability are left out")
    inference_octaves: tuple[int, ...] = Field(
        (), description="octave resolutions whose champion labels the inbox; empty: every one with a champion"
    )
    inference_batch_windows: PositiveInt = Field(
        64,
        description="windows featurized and scored together, across recording boundaries (memory: a few "
        "batches of window audio; larger batches keep a GPU busier)",
    )

    @field_validator("inference_octaves", mode="before")
    @classmethod
    def _parse_inference_octaves(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        return value


class SensorSettings(Group):
    """The folder sensors (landing and inbox): the stability rule's rolling check."""

    sensor_full_check_ticks: NonNegativeInt = Field(
        10,
        description="a settled folder's files are re-stat'ed once every this many ticks, which finds a "
        "file rewritten in place (its folder's mtime does not move); 0: never, only folder mtimes",
    )
    retrain_settle_seconds: NonNegativeFloat = Field(
        120.0,
        description="the retraining sensor starts once no class's features changed for this long and "
        "no class_features run is queued or running (a burst of classes retrains once)",
    )
    removed_class_policy: Literal["keep", "remove"] = Field(
        "keep",
        description="a class folder removed from the landing folder: keep (its partition and data stay "
        "and keep training; the sensor reports it every tick) or remove (its partition is deleted, so "
        "no later training reads it)",
    )


class RuntimeSettings(Group):
    seed: int = Field(0, description="global seed; every record's randomness derives from it and its key")
    torch_threads: NonNegativeInt = Field(
        0, description="torch threads of a step; 0: the CPUs the step was given (Slurm or affinity)"
    )
    classes_per_run: NonNegativeInt = Field(
        25,
        description="K: a backfill over N classes is ceil(N/K) runs per per-class asset (per octave for "
        "octave_spectrograms), each run one Slurm job per step looping over its K classes; 0: one run "
        "for any N (needed by `dagster asset materialize --partition-range`); fixed when the code "
        "location loads (SEC_CLASSES_PER_RUN)",
    )


GROUPS: tuple[type[Group], ...] = (
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
)
