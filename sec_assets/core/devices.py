"""Where torch work runs: one rule for every step that can use a GPU, and its CPU threads.

torch is imported on first use, here and in the core's torch modules: it costs ≈ 1 s of every
process that loads the definitions (each Slurm step, CLI call and run worker), and only the
compute steps need it."""

from __future__ import annotations


def resolve_device(device: str | None) -> str:
    """``None``/"auto": CUDA when present, else CPU; an explicit "cuda" without one is an error."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but torch sees no CUDA GPU")
    return device


def use_threads(n: int) -> int:
    """torch's intra-op threads set to ``n`` (the step's CPU share); the count torch now uses."""
    import torch

    torch.set_num_threads(n)
    return int(torch.get_num_threads())
