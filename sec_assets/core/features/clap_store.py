"""The CLAP model store (``SEC_MODELS``): its layout, filling it where there is internet, and
the seeded random-init model that the demo, tests and ``allow_random_init`` dry runs embed with.

Layout: real weights in ``<SEC_MODELS>/msclap-2023/CLAP_weights_2023.pth`` with the GPT-2 text
model in ``<SEC_MODELS>/msclap-2023/gpt2/``; the random-init model in
``<SEC_MODELS>/random-init-2023/``. Compute steps only ever read the store.

Fetching: downloads go to plain directories (not the hub cache), so a node loads them by path
with hub access disabled. Compute steps load checkpoints with ``torch.load(weights_only=True)``,
which cannot execute code from the file; a downloaded checkpoint that needs full unpickling
(extra training state beside the weights) is converted *here, once*, to a tensors-only
``{"model": state_dict}`` file, and ``provenance.json`` records the original's sha256 beside
the stored file's.

The random-init model: when the store has no real weights and random init is allowed, a CLAP of
the same 2023 architecture with a tiny GPT-2 is built once per store (under a lock, seeded: the
same bytes on every machine) and saved; it takes the same loading path as the real checkpoint
(:func:`sec_assets.core.features.clap.load_clap` checks it key for key), and every vector made
with it is flagged ``random_init``.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

from sec_assets.core.features.clap import EOS, ModelFiles, ModelStoreError, build_clap
from sec_assets.core.hashing import file_sha256
from sec_assets.core.locks import file_lock
from sec_assets.core.store.storage import atomic_write_bytes

WEIGHTS_FILE = "CLAP_weights_2023.pth"
REAL_DIR = "msclap-2023"
RANDOM_DIR = "random-init-2023"


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


def build_tiny_gpt2(directory: Path, n_embd: int = 64, seed: int = 0) -> None:
    """A 1-layer GPT-2 and a byte-level BPE tokenizer, saved with ``save_pretrained``.

    For offline tests and the demo: GPT-2's byte alphabet puts ``!`` at id 0, which msclap's
    last-token pooling relies on (it counts ids ≠ 0 and pads with ``!``). The directory name must
    contain 'gpt' (msclap picks GPT pooling by name).
    """
    import torch
    from transformers import GPT2Config, GPT2Model

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        config = GPT2Config(vocab_size=512, n_positions=128, n_embd=n_embd, n_layer=1, n_head=2)
        GPT2Model(config).save_pretrained(directory, safe_serialization=True)
    build_tiny_tokenizer(directory, vocab_size=config.vocab_size)


def build_tiny_tokenizer(directory: Path, vocab_size: int = 512) -> None:
    """A GPT-2-style byte-level BPE tokenizer trained on a fixed sentence list (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1,  # room for <|endoftext|>, added last so '!' keeps id 0
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [f"this is the sound of {w}" for w in ("a dog", "rain", "a tone", "noise", "a chirp", "birds")]
    tok.train_from_iterator(corpus * 4, trainer)
    tok.add_special_tokens([EOS])
    fast = GPT2TokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS)
    if fast.convert_tokens_to_ids("!") != 0:
        raise RuntimeError("tiny tokenizer: '!' must be id 0 for msclap's pooling")
    fast.save_pretrained(directory)


def ensure_random_init_model(models: Path, seed: int = 0) -> ModelFiles:
    """Build (once, under a lock) and save the seeded random-init 2023-architecture CLAP."""
    import torch

    root = models / RANDOM_DIR
    files = ModelFiles("msclap-2023-random-init", root / WEIGHTS_FILE, root / "tiny-gpt2", True)
    with file_lock(models / ".store.lock"):
        if files.weights.is_file():
            if not (files.text_model / "tokenizer.json").is_file():  # stores made before the tokenizer
                build_tiny_tokenizer(files.text_model)
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
