"""Classifier heads: from a feature vector to class logits. Each is one small class whose fields
are its identity (stored with the model) and a line in :data:`HEADS`; torch is imported only when
a head is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import torch


class HeadConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    weight_decay: float = Field(1e-4, ge=0, description="L2 penalty (Adam's weight_decay)")

    def build(self, in_dim: int, n_classes: int) -> torch.nn.Module:
        raise NotImplementedError


class Linear(HeadConfig):
    """``Linear(features, classes)``: the predecessor's head, soft-max by the loss."""

    name: Literal["linear"] = "linear"

    def build(self, in_dim: int, n_classes: int) -> torch.nn.Module:
        import torch

        return torch.nn.Linear(in_dim, n_classes)


class Mlp(HeadConfig):
    """One hidden layer with ReLU and dropout."""

    name: Literal["mlp"] = "mlp"
    hidden: int = Field(256, gt=0)
    dropout: float = Field(0.2, ge=0, lt=1)
    weight_decay: float = Field(1e-3, ge=0)

    def build(self, in_dim: int, n_classes: int) -> torch.nn.Module:
        import torch

        return torch.nn.Sequential(
            torch.nn.Linear(in_dim, self.hidden),
            torch.nn.ReLU(),
            torch.nn.Dropout(self.dropout),
            torch.nn.Linear(self.hidden, n_classes),
        )


HeadAny = Linear | Mlp
HEADS: dict[str, type[HeadConfig]] = {cls.model_fields["name"].default: cls for cls in (Linear, Mlp)}


def head(value: Any) -> HeadConfig:
    """A head from its name or a mapping with ``name`` and its fields."""
    spec = {"name": value} if isinstance(value, str) else dict(value)
    name = spec.get("name")
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; the heads are {sorted(HEADS)}")
    return HEADS[name].model_validate(spec)
