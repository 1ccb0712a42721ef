"""Where torch work runs: one rule for every step that can use a GPU."""

from __future__ import annotations

import torch


def resolve_device(device: str | None) -> str:
    """``None``/"auto": CUDA when present, else CPU; an explicit "cuda" without one is an error."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but torch sees no CUDA GPU")
    return device
