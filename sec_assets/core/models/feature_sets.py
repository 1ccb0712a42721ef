"""Feature sets: what a classifier sees of a segment. Each is one small class whose fields are its
identity (stored with every model trained on it) and a line in :data:`FEATURE_SETS`.

A feature set turns :class:`~sec_assets.core.models.data.SegmentData` into fixed inputs
(:meth:`inputs`, numpy) and may add a learned *trunk* between them and the head (:meth:`trunk`,
torch): ``octave_cnn`` learns from the frames × bands spectrogram what per-band statistics cannot
see (onsets, sweeps, the order of sounds). Inputs are standardised per feature (per band for the spectrogram)
with the train split's mean and spread, stored with the model.

To add one: subclass :class:`FeatureSetConfig` with a ``name`` literal, implement ``inputs`` (and
``trunk`` if it learns), add it to :data:`FEATURE_SETS`. torch is imported only inside ``trunk``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import torch

    from sec_assets.core.models.data import SegmentData


class FeatureSetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    #: the axis standardisation runs over: "feature" (vectors) or "band" (spectrogram images)
    standardise: ClassVar[str] = "feature"
    #: the stored features :meth:`inputs` reads: "embedding" (CLAP) and/or "levels" (spectrogram)
    reads: ClassVar[tuple[str, ...]] = ("embedding", "levels")

    def inputs(self, data: SegmentData) -> np.ndarray:
        raise NotImplementedError

    def trunk(self, input_shape: tuple[int, ...]) -> tuple[torch.nn.Module | None, int]:
        """(learned module or None, width of its output); None: the inputs go to the head as they are."""
        return None, int(np.prod(input_shape))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)).astype(np.float32)


class Clap(FeatureSetConfig):
    """The 1024-d CLAP audio embedding, L2-normalised (what the zero-shot baseline compares)."""

    name: Literal["clap"] = "clap"
    reads: ClassVar[tuple[str, ...]] = ("embedding",)

    def inputs(self, data: SegmentData) -> np.ndarray:
        return _unit_rows(data.embedding)


class OctaveStats(FeatureSetConfig):
    """Per band of the spectrogram of this resolution: mean, standard deviation and percentiles of
    the level over the segment's frames."""

    name: Literal["octave_stats"] = "octave_stats"
    reads: ClassVar[tuple[str, ...]] = ("levels",)
    percentiles: tuple[float, ...] = Field((10.0, 50.0, 90.0), description="level percentiles per band")

    def inputs(self, data: SegmentData) -> np.ndarray:
        levels = data.levels.astype(np.float64)  # (n, frames, bands)
        if levels.size == 0:
            return np.zeros((len(data), 0), dtype=np.float32)
        parts = [levels.mean(axis=1), levels.std(axis=1)]
        parts += list(np.percentile(levels, self.percentiles, axis=1))
        return np.concatenate(parts, axis=1).astype(np.float32)


class ClapOctaveStats(FeatureSetConfig):
    """The CLAP embedding and the band statistics side by side."""

    name: Literal["clap+octave_stats"] = "clap+octave_stats"
    percentiles: tuple[float, ...] = (10.0, 50.0, 90.0)

    def inputs(self, data: SegmentData) -> np.ndarray:
        stats = OctaveStats(percentiles=self.percentiles).inputs(data)
        return np.concatenate([Clap().inputs(data), stats], axis=1)


class OctaveCnn(FeatureSetConfig):
    """A small CNN over the frames × bands spectrogram (levels standardised per band): the bands
    are the channels of two 1-D convolutions over time, then the mean and the maximum over time,
    learned with the head (``OctaveCnnNet`` in ``core/models/cnn.py``). It sees the order
    of sounds in time, which band statistics cannot (an up-sweep and a down-sweep over the same
    bands have the same per-band statistics)."""

    name: Literal["octave_cnn"] = "octave_cnn"
    width: int = Field(64, gt=0, description="channels of each convolution")
    standardise: ClassVar[str] = "band"
    reads: ClassVar[tuple[str, ...]] = ("levels",)

    def inputs(self, data: SegmentData) -> np.ndarray:
        return data.levels.astype(np.float32)  # (n, frames, bands)

    def trunk(self, input_shape: tuple[int, ...]) -> tuple[torch.nn.Module, int]:
        from sec_assets.core.models.cnn import OctaveCnnNet  # imports torch

        return OctaveCnnNet(bands=input_shape[1], width=self.width), 2 * self.width


FeatureSetAny = Clap | OctaveStats | ClapOctaveStats | OctaveCnn
FEATURE_SETS: dict[str, type[FeatureSetConfig]] = {
    cls.model_fields["name"].default: cls for cls in (Clap, OctaveStats, ClapOctaveStats, OctaveCnn)
}


def feature_set(value: Any) -> FeatureSetConfig:
    """A feature set from its name or a mapping with ``name`` and its fields."""
    spec = {"name": value} if isinstance(value, str) else dict(value)
    name = spec.get("name")
    if name not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {name!r}; the feature sets are {sorted(FEATURE_SETS)}")
    return FEATURE_SETS[name].model_validate(spec)
