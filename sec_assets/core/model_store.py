"""Filling the model store where there is internet; compute steps only ever read it.

Downloads go to plain directories (not the hub cache), so a node loads them by path with hub
access disabled.
"""

from __future__ import annotations

from pathlib import Path

from sec_assets.core.clap import REAL_DIR, WEIGHTS_FILE

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


def fetch_msclap_2023(models: Path) -> Path:
    """Download the msclap 2023 checkpoint and GPT-2 (model + tokenizer) into ``models``."""
    from huggingface_hub import hf_hub_download, snapshot_download

    target = models / REAL_DIR
    target.mkdir(parents=True, exist_ok=True)
    hf_hub_download(MSCLAP_REPO, WEIGHTS_FILE, local_dir=target)
    snapshot_download("gpt2", local_dir=target / "gpt2", allow_patterns=GPT2_FILES)
    if not (target / WEIGHTS_FILE).is_file():
        raise RuntimeError(f"download finished but {target / WEIGHTS_FILE} is missing")
    return target
