"""Filling the model store where there is internet; compute steps only ever read it.

Downloads go to plain directories (not the hub cache), so a node loads them by path with hub
access disabled. Compute steps load checkpoints with ``torch.load(weights_only=True)``, which
cannot execute code from the file; a downloaded checkpoint that needs full unpickling (extra
training state beside the weights) is converted *here, once*, to a tensors-only
``{"model": state_dict}`` file, and ``provenance.json`` records the original's sha256 beside
the stored file's.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

from sec_assets.core.features.clap import REAL_DIR, WEIGHTS_FILE
from sec_assets.core.hashing import file_sha256
from sec_assets.core.store.storage import atomic_write_bytes

MSCLAP_REPO = "microsoft/msclap"
GPT2_FILES = [
    "config.json",
    "model.safetensors",
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
]


def tensors_only_checkpoint(path: Path) -> dict[str, object]:
    """Make ``path`` loadable with ``weights_only=True``; return what was done (for provenance).

    Only call this on a file from a trusted source: a file that needs full unpickling is loaded
    once with ``weights_only=False`` to extract its ``model`` state dict.
    """
    import torch

    original = file_sha256(path)
    try:
        torch.load(path, map_location="cpu", weights_only=True)
        return {"original_sha256": original, "converted": False}
    except pickle.UnpicklingError:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RuntimeError(f"{path} holds no tensor state dict under 'model'")
    buf = io.BytesIO()
    torch.save({"model": state}, buf)
    atomic_write_bytes(path, buf.getvalue())
    torch.load(path, map_location="cpu", weights_only=True)  # the stored file now loads safely
    return {"original_sha256": original, "converted": True}


def fetch_msclap_2023(models: Path) -> Path:
    """Download the msclap 2023 checkpoint and GPT-2 (model + tokenizer) into ``models``."""
    from huggingface_hub import hf_hub_download, snapshot_download

    target = models / REAL_DIR
    target.mkdir(parents=True, exist_ok=True)
    hf_hub_download(MSCLAP_REPO, WEIGHTS_FILE, local_dir=target)
    snapshot_download("gpt2", local_dir=target / "gpt2", allow_patterns=GPT2_FILES)
    weights = target / WEIGHTS_FILE
    if not weights.is_file():
        raise RuntimeError(f"download finished but {weights} is missing")
    provenance = {
        "repo": MSCLAP_REPO,
        "file": WEIGHTS_FILE,
        **tensors_only_checkpoint(weights),
        "stored_sha256": file_sha256(weights),
        "text_model": "gpt2",
    }
    atomic_write_bytes(target / "provenance.json", json.dumps(provenance, indent=2).encode())
    return target
