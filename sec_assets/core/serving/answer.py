"""A batch of requests scored in one pass, and each request's answer built from its share.

:func:`score_batch` is the dynamic batcher's pass: the windows of every request in the batch
(requests holding the same served set; a clip posted twice shares its windows) featurized once and
scored by every champion and shadow (:func:`~sec_assets.core.inference.label.score_windows`, the
inbox's own function), then split back per request. :func:`answer` turns one request's share into
what the service returns — per window and per clip the top-k labels with probabilities, the model
name, version and octave — and :func:`log_rows` into its ``served_requests`` rows.

A clip's labels are the mean of its windows' probabilities (each window counts once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from sec_assets.core.inference.label import Champion, score_windows
from sec_assets.core.inference.tables import top_k
from sec_assets.core.serving.models import ServedModels


@dataclass(frozen=True)
class Part:
    """One model's probabilities on one request's windows (rows in window order)."""

    champion: Champion
    proba: np.ndarray
    classes: list[str]
    windows: pl.DataFrame  # window, start_s, end_s


@dataclass(frozen=True)
class Share:
    served: ServedModels
    parts: list[Part]  # champions first, then shadows
    shadows: list[Part]
    left_out: list[dict[str, str]]


def score_batch(items: Sequence[tuple[ServedModels, pl.DataFrame]]) -> list[Share]:
    """The batcher's pass: one share per (served set, window rows) item, in order."""
    out: list[Share | None] = [None] * len(items)
    by_set: dict[int, list[int]] = {}
    for i, (served, _) in enumerate(items):
        by_set.setdefault(id(served), []).append(i)
    for indices in by_set.values():
        served = items[indices[0]][0]
        rows = pl.concat([items[i][1] for i in indices]).unique(
            "segment_key", keep="first", maintain_order=True
        )
        scored, failed = score_windows(rows, served.featurizer, served.champions + served.shadows)
        failed_keys = {f["segment_key"]: f for f in failed}
        for i in indices:
            keys = items[i][1]["segment_key"].to_list()
            parts = []
            for s in scored:
                where = {k: j for j, k in enumerate(s.at["segment_key"])}
                mine = [where[k] for k in keys if k in where]
                parts.append(
                    Part(
                        s.champion, s.proba[mine], s.classes, s.at[mine].select("window", "start_s", "end_s")
                    )
                )
            champions = [p for p in parts if any(p.champion is c for c in served.champions)]
            shadows = [p for p in parts if not any(p.champion is c for c in served.champions)]
            out[i] = Share(served, champions, shadows, [failed_keys[k] for k in keys if k in failed_keys])
    return [s for s in out if s is not None]


def _labels(
    proba: np.ndarray, classes: Sequence[str], names: Mapping[str, str], k: int, floor: float
) -> list:
    table = top_k(proba[None, :], classes, [0], [0.0], [0.0], k, floor)
    return [
        {"label": names.get(r["label"], r["label"]), "label_key": r["label"], "probability": r["probability"]}
        for r in table.iter_rows(named=True)
    ]


def answer(share: Share, k: int, min_confidence: float) -> dict[str, Any]:
    """Per champion: the clip's and each window's top-k labels (probability ≥ ``min_confidence``)."""
    names = share.served.names
    results = []
    for part in share.parts:
        windows = []
        for j, w in enumerate(part.windows.iter_rows(named=True)):
            windows.append(
                {
                    "index": w["window"],
                    "start_s": w["start_s"],
                    "end_s": w["end_s"],
                    "labels": _labels(part.proba[j], part.classes, names, k, min_confidence),
                }
            )
        clip = part.proba.mean(axis=0) if len(part.proba) else np.zeros(len(part.classes))
        results.append(
            {
                "octave": part.champion.octave,
                "model": part.champion.name,
                "model_version": part.champion.version,
                "labels": _labels(clip, part.classes, names, k, min_confidence) if len(part.proba) else [],
                "windows": windows,
            }
        )
    return {
        "results": results,
        "left_out": [
            {"window": f["segment_key"].rsplit(":", 1)[-1], "reason": f["reason"]} for f in share.left_out
        ],
    }


def top1(part: Part) -> tuple[list[str], np.ndarray]:
    """Each window's most probable class key and its probability."""
    if not len(part.proba):
        return [], np.zeros(0)
    best = part.proba.argmax(axis=1)
    return [part.classes[b] for b in best], part.proba[np.arange(len(best)), best]


def log_rows(
    share: Share, request_id: str, received_at: Any, day: str, latency_ms: float
) -> list[dict[str, Any]]:
    """The request's ``served_requests`` rows: per champion and window its top-1 (and its shadow's)."""
    params = share.served.params
    rows = []
    for part in share.parts:
        labels, probs = top1(part)
        shadow = next((s for s in share.shadows if s.champion.octave == part.champion.octave), None)
        s_labels, s_probs = top1(shadow) if shadow is not None else ([], np.zeros(0))
        s_at = {w: j for j, w in enumerate(shadow.windows["window"])} if shadow is not None else {}
        for j, w in enumerate(part.windows.iter_rows(named=True)):
            js = s_at.get(w["window"])
            rows.append(
                {
                    "request_id": request_id,
                    "received_at": received_at,
                    "day": day,
                    "octave": part.champion.octave,
                    "model": part.champion.name,
                    "model_version": part.champion.version,
                    "window_index": w["window"],
                    "start_s": w["start_s"],
                    "end_s": w["end_s"],
                    "top1_label": share.served.names.get(labels[j], labels[j]),
                    "top1_label_key": labels[j],
                    "top1_probability": float(probs[j]),
                    "windows": part.windows.height,
                    "latency_ms": latency_ms,
                    "window_seconds": params.segment_seconds,
                    "hop_seconds": params.hop_seconds,
                    "shadow_version": shadow.champion.version if shadow is not None else None,
                    "shadow_top1_label_key": s_labels[js] if js is not None else None,
                    "shadow_top1_probability": float(s_probs[js]) if js is not None else None,
                }
            )
    return rows
