"""The seeded random-init CLAP 2023 with a tiny GPT-2: what tests, the demo and
``allow_random_init`` dry runs embed with when the model store has no real weights.

It takes the same loading path as the real checkpoint (:func:`sec_assets.core.features.clap.load_clap`
checks it key for key), so tests exercise the real code without a model hub. Built once per
store, under a lock, seeded: the same bytes on every machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
from collections.abc import Iterator
from pathlib import Path

import torch

from sec_assets.core.features.clap import EOS, RANDOM_DIR, WEIGHTS_FILE, ModelFiles, build_clap
from sec_assets.core.store.storage import atomic_write_bytes


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
    """A 1-layer GPT-2 and a byte-level BPE tokenizer, saved with ``save_pretrained``.

    For offline tests and the demo: GPT-2's byte alphabet puts ``!`` at id 0, which msclap's
    last-token pooling relies on (it counts ids ≠ 0 and pads with ``!``). The directory name must
    contain 'gpt' (msclap picks GPT pooling by name).
    """
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
    root = models / RANDOM_DIR
    files = ModelFiles("msclap-2023-random-init", root / WEIGHTS_FILE, root / "tiny-gpt2", True)
    with _store_lock(models):
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
