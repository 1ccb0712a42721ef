"""A linear soft-max classifier on CLAP embeddings + n-octave band statistics.

Users of the predecessor expect ``Linear(features, n_classes)`` trained with cross-entropy and
early stopping on the ``es`` split; that is kept, with full-batch Adam on CPU seeded from a
stable hash, so the trained weights are identical on every run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import torch

from sec_assets.core.hashing import stable_seed


@dataclass
class TrainedClassifier:
    classes: list[str]
    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray  # (classes, features)
    bias: np.ndarray
    epochs: int
    best_es_loss: float
    history: list[float] = field(default_factory=list)

    def logits(self, features: np.ndarray) -> np.ndarray:
        z = (features - self.mean) / self.std
        return z @ self.weight.T + self.bias

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = self.logits(features)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            classes=np.array(self.classes),
            mean=self.mean,
            std=self.std,
            weight=self.weight,
            bias=self.bias,
            epochs=self.epochs,
            best_es_loss=self.best_es_loss,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainedClassifier:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        return cls(
            classes=[str(c) for c in z["classes"]],
            mean=z["mean"],
            std=z["std"],
            weight=z["weight"],
            bias=z["bias"],
            epochs=int(z["epochs"]),
            best_es_loss=float(z["best_es_loss"]),
        )


def train_linear(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_es: np.ndarray,
    y_es: np.ndarray,
    classes: list[str],
    *,
    seed: int,
    epochs: int = 150,
    patience: int = 10,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
) -> TrainedClassifier:
    """Train with early stopping on ``es`` (falls back to train loss if ``es`` is empty)."""
    if len(x_train) == 0:
        raise ValueError("no training examples: every class needs audio in the train split")
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0) + 1e-6
    gen = torch.Generator().manual_seed(stable_seed(seed, "classifier", tuple(classes)))
    model = torch.nn.Linear(x_train.shape[1], len(classes), dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.randn(model.weight.shape, generator=gen, dtype=torch.float64) * 0.01)
        model.bias.zero_()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    xt = torch.from_numpy((x_train - mean) / std)
    yt = torch.from_numpy(y_train.astype(np.int64))
    has_es = len(x_es) > 0
    xe = torch.from_numpy((x_es - mean) / std) if has_es else xt
    ye = torch.from_numpy(y_es.astype(np.int64)) if has_es else yt
    best = (float("inf"), 0, {k: v.clone() for k, v in model.state_dict().items()})
    history = []
    for epoch in range(1, epochs + 1):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        with torch.no_grad():
            es_loss = float(torch.nn.functional.cross_entropy(model(xe), ye))
        history.append(es_loss)
        if es_loss < best[0] - 1e-9:
            best = (es_loss, epoch, {k: v.clone() for k, v in model.state_dict().items()})
        elif epoch - best[1] >= patience:
            break
    state = best[2]
    return TrainedClassifier(
        classes=list(classes),
        mean=mean,
        std=std,
        weight=state["weight"].numpy(),
        bias=state["bias"].numpy(),
        epochs=len(history),
        best_es_loss=best[0],
        history=history,
    )
