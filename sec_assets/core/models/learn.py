"""Training a candidate (feature set + head) deterministically, and the trained model's file.

- **Deterministic**: the initial weights, dropout and the order of mini-batches come from
  generators seeded by stable hashes of (seed, candidate id, classes); training runs on the CPU
  with torch's deterministic algorithms, inside ``torch.random.fork_rng`` so the caller's random
  state is left alone. The same data, candidate and torch thread count give the same weights,
  bit for bit, in any process.
- **Device**: every step trains on the CPU (``device="cpu"``, the default). ``device="cuda"``
  exists for the GPU check (``scripts/gpu_check.sh``), which measures whether CUDA training is
  reproducible too: the same initial weights (built on the CPU, then moved), deterministic
  algorithms, which on CUDA need ``CUBLAS_WORKSPACE_CONFIG`` set before the process starts.
- **Imbalance**: the loss weights classes by ``n / (k · count)`` (scikit-learn's "balanced").
- **Early stopping** on the ``es`` loss (the train loss when ``es`` is empty), keeping the best
  epoch's weights.
- **File**: ``safetensors`` (deterministic bytes: no timestamps, sorted tensors) holding the
  weights and the standardisation, with the candidate's configuration, the classes and the
  training figures as metadata — the file alone rebuilds the model.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from sec_assets.core.devices import resolve_device
from sec_assets.core.hashing import stable_seed
from sec_assets.core.models.candidates import Candidate
from sec_assets.core.models.data import SegmentData

if TYPE_CHECKING:  # torch is imported on first use: ≈ 1 s of every process that loads the definitions
    import torch

FORMAT = "sec-classifier/1"
PREDICT_BLOCK = 64  # rows per forward when predicting (fixed: results independent of grouping)


def build_network(candidate: Candidate, input_shape: tuple[int, ...], n_classes: int) -> torch.nn.Module:
    import torch

    trunk, width = candidate.features.trunk(input_shape)
    layers = [trunk] if trunk is not None else [torch.nn.Flatten()] if len(input_shape) > 1 else []
    return torch.nn.Sequential(*layers, candidate.head.build(width, n_classes))


def _standardisation(candidate: Candidate, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    axes = tuple(range(x.ndim - 1))  # per feature (vectors) or per band (spectrograms)
    mean = x.astype(np.float64).mean(axis=axes)
    std = x.astype(np.float64).std(axis=axes) + 1e-6
    return mean.astype(np.float32), std.astype(np.float32)


CUBLAS_DETERMINISTIC = (":4096:8", ":16:8")  # CUBLAS_WORKSPACE_CONFIG values torch accepts


@contextlib.contextmanager
def _deterministic(seed: int, device: str = "cpu") -> Iterator[None]:
    import torch

    was = torch.are_deterministic_algorithms_enabled()
    cuda = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was)


@dataclass
class TrainedModel:
    candidate: Candidate
    classes: list[str]
    input_shape: tuple[int, ...]
    mean: np.ndarray
    std: np.ndarray
    state: dict[str, np.ndarray]
    epochs: int
    best_epoch: int
    best_es_loss: float
    history: list[dict[str, float]] = field(default_factory=list)  # per epoch: train_loss, es_loss

    def network(self) -> torch.nn.Module:
        import torch

        net = build_network(self.candidate, self.input_shape, len(self.classes))
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.state.items()})
        return net.eval()

    def standardised(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def probabilities(self, data: SegmentData) -> np.ndarray:
        """(n, classes) class probabilities for segments (their features computed as in training)."""
        return self.probabilities_of_inputs(self.candidate.features.inputs(data))

    def probabilities_of_inputs(self, x: np.ndarray) -> np.ndarray:
        """Probabilities in fixed blocks of :data:`PREDICT_BLOCK` rows (the last one zero-padded):
        every forward has the same shape, so a row's probabilities do not depend on which rows
        it was scored with (the report's test set or one recording's windows: same bits)."""
        import torch

        if len(x) == 0:
            return np.zeros((0, len(self.classes)))
        net = self.network()
        z = self.standardised(x)
        blocks = []
        with torch.no_grad():
            for start in range(0, len(z), PREDICT_BLOCK):
                part = z[start : start + PREDICT_BLOCK]
                padded = np.zeros((PREDICT_BLOCK, *z.shape[1:]), dtype=np.float32)
                padded[: len(part)] = part
                blocks.append(net(torch.from_numpy(padded)).numpy()[: len(part)])
        logits = np.concatenate(blocks).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def to_bytes(self) -> bytes:
        tensors = {f"state.{k}": np.ascontiguousarray(v) for k, v in self.state.items()}
        tensors |= {"standardise.mean": self.mean, "standardise.std": self.std}
        meta = {
            "format": FORMAT,
            "candidate": self.candidate.identity(),
            "classes": self.classes,
            "input_shape": list(self.input_shape),
            "training": {
                "epochs": self.epochs,
                "best_epoch": self.best_epoch,
                "best_es_loss": self.best_es_loss,
            },
            "history": self.history,
        }
        # one metadata key: safetensors writes several in hash-map order (measured: not stable)
        return st_save(tensors, metadata={"sec": json.dumps(meta, sort_keys=True)})

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainedModel:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")  # safetensors: u64 header size, JSON header
        meta = json.loads(json.loads(data[8 : 8 + header_len]).get("__metadata__", {}).get("sec", "{}"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file (format {meta.get('format')!r})")
        training = meta["training"]
        return cls(
            candidate=Candidate.model_validate(meta["candidate"]),
            classes=meta["classes"],
            input_shape=tuple(meta["input_shape"]),
            mean=tensors["standardise.mean"],
            std=tensors["standardise.std"],
            state={k.removeprefix("state."): v for k, v in tensors.items() if k.startswith("state.")},
            epochs=training["epochs"],
            best_epoch=training["best_epoch"],
            best_es_loss=training["best_es_loss"],
            history=meta["history"],
        )


def train_candidate(
    candidate: Candidate, train: SegmentData, es: SegmentData, seed: int, device: str = "cpu"
) -> TrainedModel:
    """Fit ``candidate`` on ``train``, early-stopped on ``es``; see the module docstring."""
    import torch

    if len(train) == 0:
        raise ValueError("no training examples: every class needs audio in the train split")
    dev = resolve_device(device)
    if dev != "cpu" and os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in CUBLAS_DETERMINISTIC:
        raise RuntimeError(
            f"deterministic training on {dev} needs CUBLAS_WORKSPACE_CONFIG=:4096:8 (or :16:8) in the "
            "environment, set before the process's first CUDA call (scripts/gpu_check.sh sets it)"
        )
    classes = train.classes
    fit = candidate.fit
    x = candidate.features.inputs(train)
    mean, std = _standardisation(candidate, x)
    xt = torch.from_numpy(((x - mean) / std).astype(np.float32)).to(dev)
    yt = torch.from_numpy(train.labels.astype(np.int64)).to(dev)
    if len(es):
        xe = torch.from_numpy(((candidate.features.inputs(es) - mean) / std).astype(np.float32)).to(dev)
        ye = torch.from_numpy(es.labels.astype(np.int64)).to(dev)
    else:
        xe, ye = xt, yt
    weights = None
    if fit.class_weighting:
        from sklearn.utils.class_weight import compute_class_weight  # on first use (evaluation.metrics)

        present = np.unique(train.labels)
        balanced = compute_class_weight("balanced", classes=present, y=train.labels)
        full = np.ones(len(classes))
        full[present] = balanced
        weights = torch.from_numpy(full.astype(np.float32)).to(dev)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    key = (candidate.id, tuple(classes))
    order = np.random.default_rng(stable_seed(seed, "batches", *key))
    n = len(train)
    batch = fit.batch_size or n
    history: list[dict[str, float]] = []
    with _deterministic(stable_seed(seed, "init", *key), dev):
        net = build_network(candidate, tuple(x.shape[1:]), len(classes)).to(dev)  # initialised on the CPU
        opt = torch.optim.Adam(
            net.parameters(), lr=fit.learning_rate, weight_decay=candidate.head.weight_decay
        )
        best = (float("inf"), 0, copy.deepcopy(net.state_dict()))
        for epoch in range(1, fit.epochs + 1):
            net.train()
            perm = order.permutation(n) if batch < n else np.arange(n)
            total = 0.0
            for start in range(0, n, batch):
                idx = torch.from_numpy(perm[start : start + batch]).to(dev)
                opt.zero_grad()
                loss = loss_fn(net(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            net.eval()
            with torch.no_grad():
                es_loss = float(loss_fn(net(xe), ye))
            history.append({"train_loss": total / n, "es_loss": es_loss})
            if es_loss < best[0] - 1e-9:
                best = (es_loss, epoch, copy.deepcopy(net.state_dict()))
            elif epoch - best[1] >= fit.patience:
                break
    return TrainedModel(
        candidate=candidate,
        classes=list(classes),
        input_shape=tuple(x.shape[1:]),
        mean=mean,
        std=std,
        state={k: v.detach().cpu().numpy().copy() for k, v in best[2].items()},
        epochs=len(history),
        best_epoch=best[1],
        best_es_loss=best[0],
        history=history,
    )
