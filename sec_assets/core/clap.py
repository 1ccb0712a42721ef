"""CLAP 2023 audio embeddings: model store, verified loading, batched inference.

The seam around msclap
----------------------
``msclap/__init__.py`` imports its wrapper class, which imports torchaudio and huggingface_hub at
module level; torchaudio's Linux wheels are CUDA builds that do not load next to the CPU torch,
and the wrapper downloads weights from the hub. The model code itself
(``msclap/models/{clap,audio,htsat,config,pytorch_utils}.py``) needs only torch, transformers
and torchlibrosa. :func:`msclap_models` therefore loads ``msclap.models`` as a sub-package of a
private, empty parent package (``_sec_msclap``) whose search path is msclap's installed
directory: msclap's own ``__init__`` never runs, nothing of msclap is modified, and the real
``msclap`` name stays untouched for anyone who can import it.

Loading is strict: the audio tower must match key for key and shape for shape; a missing or
unexpected key raises an error naming it. (The predecessor's ``strict=False`` silently swapped
the text tower.)

When the store holds no real weights, a *randomly initialised* model of the same 2023
architecture is built once (seeded, so identical everywhere) and saved to the store; embeddings
made with it are flagged ``random_init`` everywhere. Real weights go to
``<SEC_MODELS>/msclap-2023/CLAP_weights_2023.pth`` with the GPT-2 text model in
``<SEC_MODELS>/msclap-2023/gpt2/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import importlib.machinery
import importlib.util
import io
import json
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sec_assets.core.hashing import file_sha256
from sec_assets.core.storage import atomic_write_bytes

SAMPLE_RATE = 44100
CLIP_SECONDS = 7
CLIP_SAMPLES = SAMPLE_RATE * CLIP_SECONDS
EMBEDDING_DIM = 1024
WEIGHTS_FILE = "CLAP_weights_2023.pth"
REAL_DIR = "msclap-2023"
RANDOM_DIR = "random-init-2023"

# Audio settings of msclap's config_2023.yml (HTSAT builds its front end from msclap's
# models/config.py regardless; these keep the constructor identical to the wrapper's).
AUDIO_CONFIG_2023: dict[str, Any] = {
    "audioenc_name": "HTSAT",
    "sample_rate": 44100,
    "window_size": 1024,
    "hop_size": 320,
    "mel_bins": 64,
    "fmin": 50,
    "fmax": 8000,
    "classes_num": 527,
    "out_emb": 768,
    "d_proj": 1024,
}

_PRIVATE_PACKAGE = "_sec_msclap"


class ModelStoreError(RuntimeError):
    """The model store is missing something; the message says which command fixes it."""


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the architecture; the message names the offending keys."""


def msclap_models() -> types.ModuleType:
    """``msclap.models.clap`` without running ``msclap/__init__`` (see the module docstring)."""
    target = f"{_PRIVATE_PACKAGE}.models.clap"
    if target in sys.modules:
        return sys.modules[target]
    spec = importlib.util.find_spec("msclap")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModelStoreError("msclap is not installed: run the README's set-up command")
    parent_spec = importlib.machinery.ModuleSpec(_PRIVATE_PACKAGE, None, is_package=True)
    parent_spec.submodule_search_locations = list(spec.submodule_search_locations)
    sys.modules.setdefault(_PRIVATE_PACKAGE, importlib.util.module_from_spec(parent_spec))
    return importlib.import_module(target)


@dataclass(frozen=True)
class ModelFiles:
    model_id: str
    weights: Path
    text_model: Path
    random_init: bool


def real_model_files(models: Path) -> ModelFiles | None:
    weights = models / REAL_DIR / WEIGHTS_FILE
    text = models / REAL_DIR / "gpt2"
    if weights.is_file() and text.is_dir():
        return ModelFiles("msclap-2023", weights, text, random_init=False)
    return None


def resolve_model_files(models: Path, allow_random_init: bool) -> ModelFiles:
    """Real weights when the store has them; else the random-init model if allowed."""
    real = real_model_files(models)
    if real is not None:
        return real
    if not allow_random_init:
        raise ModelStoreError(
            f"no CLAP 2023 weights in the model store {models} (expected {REAL_DIR}/{WEIGHTS_FILE}"
            f" and {REAL_DIR}/gpt2/): run `sec-assets models fetch` where there is internet"
        )
    return ensure_random_init_model(models)


@contextlib.contextmanager
def _store_lock(models: Path) -> Iterator[None]:
    models.mkdir(parents=True, exist_ok=True)
    with open(models / ".store.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_tiny_gpt2(directory: Path, n_embd: int = 64, seed: int = 0) -> None:
    """A 1-layer GPT-2 saved with ``save_pretrained`` (the path must contain 'gpt' for msclap)."""
    from transformers import GPT2Config, GPT2Model

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        config = GPT2Config(vocab_size=512, n_positions=128, n_embd=n_embd, n_layer=1, n_head=2)
        GPT2Model(config).save_pretrained(directory, safe_serialization=True)


def build_clap(text_model: Path) -> Any:
    """An msclap 2023-architecture ``CLAP`` module whose text tower is read from ``text_model``."""
    if "gpt" not in text_model.name:
        raise ModelStoreError(f"msclap selects GPT pooling by name: {text_model} must contain 'gpt'")
    config = json.loads((text_model / "config.json").read_text())
    clap_module = msclap_models()
    return clap_module.CLAP(
        text_model=str(text_model), transformer_embed_dim=int(config["n_embd"]), **AUDIO_CONFIG_2023
    )


def ensure_random_init_model(models: Path, seed: int = 0) -> ModelFiles:
    """Build (once, under a lock) and save the seeded random-init 2023-architecture CLAP."""
    root = models / RANDOM_DIR
    files = ModelFiles("msclap-2023-random-init", root / WEIGHTS_FILE, root / "tiny-gpt2", True)
    with _store_lock(models):
        if files.weights.is_file():
            return files
        root.mkdir(parents=True, exist_ok=True)
        if not (files.text_model / "config.json").is_file():
            build_tiny_gpt2(files.text_model, seed=seed)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = build_clap(files.text_model)
        buf = io.BytesIO()
        torch.save({"model": model.state_dict()}, buf)
        atomic_write_bytes(files.weights, buf.getvalue())
    return files


def _verify_and_load(module: torch.nn.Module, state: dict[str, torch.Tensor], prefix: str) -> None:
    own = module.state_dict()
    given = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    missing = sorted(set(own) - set(given))
    unexpected = sorted(set(given) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(given) if own[k].shape != given[k].shape)
    if missing or unexpected or wrong_shape:

        def show(keys: list[str]) -> str:
            return ", ".join(prefix + k for k in keys[:10]) + (" …" if len(keys) > 10 else "")

        raise CheckpointMismatchError(
            f"checkpoint does not match the 2023 architecture under '{prefix}': "
            f"{len(missing)} missing [{show(missing)}], {len(unexpected)} unexpected "
            f"[{show(unexpected)}], {len(wrong_shape)} with wrong shape [{show(wrong_shape)}]"
        )
    module.load_state_dict(given, strict=True)


@dataclass
class LoadedClap:
    files: ModelFiles
    weights_sha256: str
    model: Any  # msclap's CLAP module (untyped third-party code)

    @torch.inference_mode()
    def embed(self, clips: np.ndarray) -> np.ndarray:
        """(B, 308700) float32 mono 44.1 kHz 7-s clips → (B, 1024) float32 embeddings."""
        if clips.ndim != 2 or clips.shape[1] != CLIP_SAMPLES:
            raise ValueError(f"expected (batch, {CLIP_SAMPLES}) clips, got {clips.shape}")
        x = torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32))
        embedding, _ = self.model.audio_encoder(x)
        return embedding.float().numpy()


def load_clap(files: ModelFiles, need_text: bool = False) -> LoadedClap:
    """Build the architecture and load the checkpoint strictly (audio always, text if needed)."""
    model = build_clap(files.text_model)
    checkpoint = torch.load(files.weights, map_location="cpu", weights_only=True)
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"{files.weights} holds no state dict")
    _verify_and_load(model.audio_encoder, state, "audio_encoder.")
    if need_text:
        _verify_and_load(model.caption_encoder, state, "caption_encoder.")
    model.eval()
    return LoadedClap(files=files, weights_sha256=file_sha256(files.weights), model=model)


def fit_clip(audio: np.ndarray) -> np.ndarray:
    """Exactly 7 s: repeat-pad shorter input, keep the first 7 s of longer input (deterministic)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0:
        raise ValueError("empty clip")
    if audio.size >= CLIP_SAMPLES:
        return audio[:CLIP_SAMPLES]
    return np.tile(audio, -(-CLIP_SAMPLES // audio.size))[:CLIP_SAMPLES]
