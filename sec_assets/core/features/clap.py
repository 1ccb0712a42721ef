"""CLAP 2023 audio embeddings: verified loading and batched inference.

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

Offline by construction: compute steps only ever pass local directories to
``from_pretrained`` (``local_files_only=True`` where the call is ours; msclap's ``TextEncoder`` is
given a directory path), and the audio tower is built without any text model at all — an
embedding step needs neither GPT-2 nor the hub. ``sec-assets models fetch`` is the only code that
downloads (:mod:`sec_assets.core.features.clap_store`).

Loading is strict: the audio tower must match key for key and shape for shape; a missing or
unexpected key raises an error naming it. (The predecessor's ``strict=False`` silently swapped
the text tower.) Text-tower keys are checked the same way, and only when text is needed.

**Preprocessing** (:func:`prepare_clip`) is the 2023 model's intended path, made deterministic:
mono by mean, resampled to 44.1 kHz (soxr HQ), float32, exactly 7 s — shorter input repeated
and cut exactly as msclap's ``load_audio_into_tensor`` does; longer input cut into evenly spaced
7-s windows (first at 0, last ending at the end) whose embeddings are averaged, where msclap
would take one *random* crop. A test runs msclap's own preprocessing code on the same tensor.

Where the files come from — the model store's layout, ``sec-assets models fetch`` and the
seeded random-init model used when the store holds no real weights — is
:mod:`sec_assets.core.features.clap_store`; this module loads whatever :class:`ModelFiles` it
is given and imports nothing of the store.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soxr

from sec_assets.core.devices import resolve_device
from sec_assets.core.hashing import file_sha256

if TYPE_CHECKING:  # torch is imported on first use: ≈ 1 s of every process that loads the definitions
    import torch

SAMPLE_RATE = 44100
CLIP_SECONDS = 7
CLIP_SAMPLES = SAMPLE_RATE * CLIP_SECONDS
EMBEDDING_DIM = 1024
TEXT_LEN = 77  # config_2023.yml text_len
EOS = "<|endoftext|>"
# preprocessing identity, recorded with every vector and part of the resume key
AUDIO_RECIPE = "clap2023-v1:mono-mean/soxr-hq-44100/repeat-pad-7s/7s-windows-mean"
# GPU memory per clip in one forward, for the batch size derived from free memory: an estimate
# (no GPU was lent when this was written); a batch that still runs out of memory is halved
GPU_BYTES_PER_CLIP = 96 * 2**20

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


class TextModelUnavailable(ModelStoreError):
    """Text was asked for but the store or checkpoint lacks the text tower or its tokenizer."""


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


def _audio_kwargs() -> dict[str, Any]:
    c = AUDIO_CONFIG_2023
    return {
        "audioenc_name": c["audioenc_name"],
        "d_in": c["out_emb"],
        "d_out": c["d_proj"],
        "sample_rate": c["sample_rate"],
        "window_size": c["window_size"],
        "hop_size": c["hop_size"],
        "mel_bins": c["mel_bins"],
        "fmin": c["fmin"],
        "fmax": c["fmax"],
        "classes_num": c["classes_num"],
    }


def _check_text_dir(text_model: Path) -> None:
    if "gpt" not in text_model.name:
        raise ModelStoreError(f"msclap selects GPT pooling by name: {text_model} must contain 'gpt'")
    if not (text_model / "config.json").is_file():
        raise TextModelUnavailable(f"no text model in {text_model} (config.json missing)")


def build_clap(text_model: Path) -> Any:
    """A whole msclap 2023-architecture ``CLAP`` (audio + text), used to write checkpoints."""
    _check_text_dir(text_model)
    config = json.loads((text_model / "config.json").read_text())
    clap_module = msclap_models()
    return clap_module.CLAP(
        text_model=str(text_model), transformer_embed_dim=int(config["n_embd"]), **AUDIO_CONFIG_2023
    )


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


def gpu_batch_size(device: str, per_clip_bytes: int = GPU_BYTES_PER_CLIP, cap: int = 512) -> int:
    """Clips per GPU forward from the memory free now: a conservative share of it, at most ``cap``."""
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return max(1, min(cap, int(0.6 * free) // per_clip_bytes))


@dataclass
class LoadedClap:
    """The verified audio tower (and text tower when asked for) on one device.

    On CPU the audio tower runs one clip per forward: the same input shape every call, so an
    embedding does not depend on which clips shared a batch (batch 4 vs 1 differs by ≈ 2e-6 in
    MKL, measured; one clip per call is also no slower on CPU). On CUDA whole batches run under
    bf16 autocast (``precision``), and a batch that runs out of memory is split in half and retried.
    """

    files: ModelFiles
    weights_sha256: str
    audio: torch.nn.Module
    device: str = "cpu"
    precision: str = "fp32"
    text: torch.nn.Module | None = None
    tokenizer: Any = None
    logit_scale: float = 1.0

    @property
    def recipe(self) -> str:
        """Everything besides the weights that shapes a vector: preprocessing, device, precision."""
        return f"{AUDIO_RECIPE}/{self.device.split(':')[0]}-{self.precision}"

    def embed(self, clips: np.ndarray) -> np.ndarray:
        """(B, 308700) float32 mono 44.1 kHz 7-s clips → (B, 1024) float32 embeddings."""
        import torch

        if clips.ndim != 2 or clips.shape[1] != CLIP_SAMPLES:
            raise ValueError(f"expected (batch, {CLIP_SAMPLES}) clips, got {clips.shape}")
        x = torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32))
        if self.device == "cpu":
            return np.concatenate([self._forward(x[i : i + 1]) for i in range(x.shape[0])])
        return self._forward_splitting(x)

    def _forward_splitting(self, x: torch.Tensor) -> np.ndarray:
        import torch

        try:
            return self._forward(x)
        except torch.cuda.OutOfMemoryError:
            if x.shape[0] == 1:
                raise
            torch.cuda.empty_cache()
            half = x.shape[0] // 2
            return np.concatenate([self._forward_splitting(x[:half]), self._forward_splitting(x[half:])])

    def _forward(self, x: torch.Tensor) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = x.to(self.device, non_blocking=True)
            if self.device != "cpu" and self.precision == "bf16":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    embedding, _ = self.audio(x)
            else:
                embedding, _ = self.audio(x)
            return embedding.float().cpu().numpy()

    def embed_text(self, prompts: list[str]) -> np.ndarray:
        """(P, 1024) text embeddings, tokenized exactly as msclap's ``preprocess_text``."""
        import torch

        if self.text is None or self.tokenizer is None:
            raise TextModelUnavailable("the text tower was not loaded (load_clap(..., need_text=True))")
        tokens = self.tokenizer(
            [p + " " + EOS for p in prompts],
            add_special_tokens=True,
            max_length=TEXT_LEN,
            padding="max_length",
            truncation=True,
            return_tensors="pt",
        )
        batch = {k: tokens[k].to(self.device) for k in ("input_ids", "attention_mask")}
        with torch.inference_mode():
            return self.text(batch).float().cpu().numpy()


def load_clap(
    files: ModelFiles, need_text: bool = False, device: str | None = "cpu", precision: str = "bf16"
) -> LoadedClap:
    """Build the audio tower (and the text tower if needed) and load the checkpoint strictly.

    ``precision`` applies on CUDA only ("bf16" autocast or "fp32"); CPU always runs fp32.
    Text needs the tokenizer and model in ``files.text_model`` and the checkpoint's
    ``caption_encoder.*`` keys; whatever is missing raises :class:`TextModelUnavailable`.
    """
    import torch

    if precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be 'bf16' or 'fp32', got {precision!r}")
    dev = resolve_device(device)
    clap_module = msclap_models()
    checkpoint = torch.load(files.weights, map_location="cpu", weights_only=True)
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"{files.weights} holds no state dict")
    audio = clap_module.AudioEncoder(**_audio_kwargs())
    _verify_and_load(audio, state, "audio_encoder.")
    loaded = LoadedClap(
        files=files,
        weights_sha256=file_sha256(files.weights),
        audio=audio.eval().to(dev),
        device=dev,
        precision=precision if dev != "cpu" else "fp32",
    )
    if need_text:
        _load_text(loaded, state, clap_module)
    return loaded


def _load_text(loaded: LoadedClap, state: dict[str, torch.Tensor], clap_module: Any) -> None:
    from transformers import AutoTokenizer

    text_dir = loaded.files.text_model
    _check_text_dir(text_dir)
    if not any(k.startswith("caption_encoder.") for k in state):
        raise TextModelUnavailable(f"{loaded.files.weights} holds no text tower (caption_encoder.*)")
    if not any((text_dir / f).is_file() for f in ("tokenizer.json", "vocab.json")):
        raise TextModelUnavailable(f"no tokenizer in {text_dir}")
    embed_dim = int(json.loads((text_dir / "config.json").read_text())["n_embd"])
    text = clap_module.TextEncoder(AUDIO_CONFIG_2023["d_proj"], str(text_dir), embed_dim)
    _verify_and_load(text, state, "caption_encoder.")
    tokenizer = AutoTokenizer.from_pretrained(str(text_dir), local_files_only=True)
    tokenizer.add_special_tokens({"pad_token": "!"})  # as msclap does for GPT models
    loaded.text = text.eval().to(loaded.device)
    loaded.tokenizer = tokenizer
    if "logit_scale" in state:
        loaded.logit_scale = float(state["logit_scale"].exp())


def prepare_clip(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(windows, 308700) float32: the model's input for one segment (see the module docstring)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0, dtype=np.float32)  # (channels, samples) → mono by mean
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected a non-empty mono or (channels, samples) signal, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("signal contains NaN or infinite samples")
    if sample_rate != SAMPLE_RATE:
        x = soxr.resample(x, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    if x.size <= CLIP_SAMPLES:  # msclap: repeat ceil(7 s / length) times, keep the first 7 s
        return np.tile(x, -(-CLIP_SAMPLES // x.size))[None, :CLIP_SAMPLES]
    count = -(-x.size // CLIP_SAMPLES)
    starts = np.round(np.linspace(0, x.size - CLIP_SAMPLES, count)).astype(int)
    return np.stack([x[s : s + CLIP_SAMPLES] for s in starts])
