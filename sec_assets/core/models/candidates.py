"""A candidate model: a feature set, a head and how to fit them — the identity of a trained model.

The ``candidates`` setting lists the candidates trained per octave resolution; the one with the
best validation macro-F1 becomes that octave's model. In YAML::

    candidates:
      - {features: clap, head: linear}
      - {features: octave_stats, head: mlp}
      - {features: {name: clap+octave_stats, percentiles: [5, 50, 95]}, head: {name: mlp, hidden: 128}}
      - {features: octave_cnn, head: linear, fit: {learning_rate: 0.003, batch_size: 32}}
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator

from sec_assets.core.hashing import stable_hex
from sec_assets.core.models.feature_sets import FeatureSetAny, feature_set
from sec_assets.core.models.heads import HeadAny, head


class FitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    learning_rate: float = Field(0.01, gt=0, description="Adam learning rate")
    epochs: PositiveInt = Field(150, description="epochs at most")
    patience: PositiveInt = Field(10, description="epochs without a better es loss, then stop")
    batch_size: NonNegativeInt = Field(0, description="examples per step; 0: the whole train split")
    class_weighting: bool = Field(True, description="weight the loss by inverse class frequency (balanced)")


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    features: FeatureSetAny = Field(discriminator="name")
    head: HeadAny = Field(discriminator="name")
    fit: FitConfig = FitConfig()

    @field_validator("features", mode="before")
    @classmethod
    def _features(cls, value: Any) -> Any:
        return feature_set(value)

    @field_validator("head", mode="before")
    @classmethod
    def _head(cls, value: Any) -> Any:
        return head(value)

    def identity(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def id(self) -> str:
        """``<features>/<head>`` plus a short hash of the whole configuration (unique, stable)."""
        digest = stable_hex(json.dumps(self.identity(), sort_keys=True), size=4)
        return f"{self.features.name}/{self.head.name}-{digest}"


DEFAULT_CANDIDATES: tuple[dict[str, Any], ...] = (
    {"features": "clap", "head": "linear"},
    {"features": "octave_stats", "head": "mlp"},
    {"features": "clap+octave_stats", "head": "mlp"},
    {
        "features": "octave_cnn",
        "head": "linear",
        "fit": {"learning_rate": 0.003, "epochs": 60, "patience": 8, "batch_size": 32},
    },
)
