"""Zero-shot baseline: classify stored audio embeddings by CLAP text prompts, no training.

The scores are msclap's ``compute_similarity``: cosine similarity of the L2-normalised audio and
text embeddings times the model's ``logit_scale``; a soft-max over the classes turns them into
the probabilities :func:`sec_assets.core.evaluation.metrics.evaluate` scores (accuracy, mAP, …).
Every segment is held out here — nothing was fitted on it — so the figures cover all of them.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from sec_assets.core.evaluation.metrics import evaluate
from sec_assets.core.features.clap import LoadedClap

PROMPT = "this is the sound of {}"  # msclap's published zero-shot prompt (ESC-50: 93.9 % for 2023)


def class_phrase(name: str) -> str:
    """A folder name as words for the prompt: ``dog_bark`` / ``dog-bark`` → ``dog bark``."""
    return re.sub(r"\s+", " ", re.sub(r"[_\-]+", " ", name)).strip()


def prompts(class_names: list[str]) -> list[str]:
    return [PROMPT.format(class_phrase(n)) for n in class_names]


def probabilities(audio: np.ndarray, text: np.ndarray, logit_scale: float) -> np.ndarray:
    """(N, C) soft-max over classes of ``logit_scale · cos(audio, text)``."""
    a = audio / np.maximum(np.linalg.norm(audio, axis=1, keepdims=True), 1e-12)
    t = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
    logits = logit_scale * (a.astype(np.float64) @ t.astype(np.float64).T)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def zero_shot(
    model: LoadedClap, audio: np.ndarray, labels: np.ndarray, class_names: list[str]
) -> dict[str, Any]:
    """Metrics of the prompt classifier on embeddings ``audio`` with integer ``labels``."""
    text = model.embed_text(prompts(class_names))
    return evaluate(labels, probabilities(audio, text, model.logit_scale), class_names)
