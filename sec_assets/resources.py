"""The one Dagster resource: typed settings for paths and parameters (defaults from configs/)."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field

from sec_assets.core.segments import SegmentParams
from sec_assets.core.settings import Settings, load_settings
from sec_assets.executor.protocol import install_time_limit_handler


class SecResource(ConfigurableResource):
    """Where data lives and how it is processed; every field can be overridden per run."""

    home: str = Field(description="root of all outputs (SEC_HOME)")
    audio_root: str = Field(description="landing folder with one sub-folder per class")
    models: str = Field(description="model store (SEC_MODELS)")
    target_sample_rate: int = 44100
    segment_seconds: float = 7.0
    hop_seconds: float | None = None
    min_segment_seconds: float = 1.0
    frame_seconds: float = 0.1
    channel: str = Field(default="mean", description="'mean' or a channel index, e.g. '0'")
    target_segments_per_class: int = Field(default=0, description="0: one pass (round 0) only")
    max_rounds: int = 16
    noise_mix: float = 0.3
    gain_db_low: float = 0.0
    gain_db_high: float = 0.0
    time_shift_seconds: float = 0.0
    seed: int = 0
    octave_base: int = 2
    level_reference: str = "20uPa"
    floor_db: float = -100.0
    spectrogram_device: str = "auto"
    spectrogram_batch_size: int = 16
    split_fractions: dict[str, float] = Field(default_factory=dict)
    embed_batch_size: int = 16
    embed_workers: int = 2
    embed_device: str = "auto"
    embed_precision: str = "bf16"
    embed_gpu_batch_size: int = Field(default=0, description="0: from the GPU's free memory")
    embed_commit_rows: int = 1024
    classifier_epochs: int = 150
    classifier_patience: int = 10
    classifier_learning_rate: float = 0.01
    allow_random_init: bool = Field(
        default=False, description="use a randomly initialised CLAP when the store has no real weights"
    )
    torch_threads: int = Field(default=0, description="0: the CPUs this step was given")

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SecResource:
        s = settings or load_settings()
        return cls(
            home=str(s.home),
            audio_root=str(s.landing),
            models=str(s.model_store),
            target_sample_rate=s.target_sample_rate,
            segment_seconds=s.segment_seconds,
            hop_seconds=s.hop_seconds,
            min_segment_seconds=s.min_segment_seconds,
            frame_seconds=s.frame_seconds,
            channel=str(s.channel),
            target_segments_per_class=s.target_segments_per_class or 0,
            max_rounds=s.max_rounds,
            noise_mix=s.noise_mix,
            gain_db_low=s.gain_db_range[0],
            gain_db_high=s.gain_db_range[1],
            time_shift_seconds=s.time_shift_seconds,
            seed=s.seed,
            octave_base=s.octave_base,
            level_reference=s.level_reference,
            floor_db=s.floor_db,
            spectrogram_device=s.spectrogram_device,
            spectrogram_batch_size=s.spectrogram_batch_size,
            split_fractions=dict(s.split_fractions),
            embed_batch_size=s.embed_batch_size,
            embed_workers=s.embed_workers,
            embed_device=s.embed_device,
            embed_precision=s.embed_precision,
            embed_gpu_batch_size=s.embed_gpu_batch_size,
            embed_commit_rows=s.embed_commit_rows,
            allow_random_init=s.allow_random_init,
            classifier_epochs=s.classifier_epochs,
            classifier_patience=s.classifier_patience,
            classifier_learning_rate=s.classifier_learning_rate,
        )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Under the submitit executor (a Slurm job): SIGUSR1 — which the job wrapper sends, and
        repeats, once Slurm signals the time limit ``signal_delay_s`` ahead — raises
        :class:`~sec_assets.executor.SlurmTimeLimitError` in the step. Every write is atomic, so
        the step stops cleanly and fails with "time limit" in its message. Elsewhere nothing
        changes. The protocol (env flag, signal, error) is :mod:`sec_assets.executor.protocol`."""
        install_time_limit_handler()

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    @property
    def audio_root_path(self) -> Path:
        return Path(self.audio_root)

    @property
    def models_path(self) -> Path:
        return Path(self.models)

    def segment_params(self) -> SegmentParams:
        return SegmentParams(
            sample_rate=self.target_sample_rate,
            segment_seconds=self.segment_seconds,
            hop_seconds=self.hop_seconds or self.segment_seconds,
            min_segment_seconds=self.min_segment_seconds,
            noise_mix=self.noise_mix,
            gain_db_range=(self.gain_db_low, self.gain_db_high),
            time_shift_seconds=self.time_shift_seconds,
            seed=self.seed,
            channel=int(self.channel) if self.channel.isdigit() else self.channel,
            target_segments=self.target_segments_per_class or None,
            max_rounds=self.max_rounds,
        )

    def split_fractions_or_default(self) -> dict[str, float]:
        return self.split_fractions or dict(Settings().split_fractions)

    def cpu_count(self) -> int:
        """CPUs this process may use: explicit, else Slurm's allocation, else the affinity mask."""
        if self.torch_threads > 0:
            return self.torch_threads
        slurm = os.environ.get("SLURM_CPUS_PER_TASK")
        if slurm and slurm.isdigit():
            return int(slurm)
        return max(1, len(os.sched_getaffinity(0)))
