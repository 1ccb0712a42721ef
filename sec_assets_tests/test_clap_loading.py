"""CLAP loading through the real path, on the seeded random-init 2023-architecture model."""

import sys

import numpy as np
import pytest
import torch

from sec_assets.core import clap


def test_random_init_model_loads_strictly_and_embeds(model_store):
    files = clap.resolve_model_files(model_store, allow_random_init=True)
    assert files.random_init and files.weights.is_file()
    model = clap.load_clap(files, need_text=True)
    assert len(model.weights_sha256) == 64
    x = np.random.default_rng(0).standard_normal((2, clap.CLIP_SAMPLES)).astype(np.float32) * 0.1
    a = model.embed(x)
    assert a.shape == (2, 1024) and a.dtype == np.float32 and np.all(np.isfinite(a))
    np.testing.assert_allclose(model.embed(x[:1]), a[:1], atol=1e-5)  # batch-independent
    assert "torchaudio" not in sys.modules  # the seam keeps msclap's wrapper out


@pytest.mark.parametrize("damage", ["rename", "drop", "reshape"])
def test_damaged_checkpoint_fails_loudly(model_store, tmp_path, damage):
    files = clap.resolve_model_files(model_store, allow_random_init=True)
    state = torch.load(files.weights, map_location="cpu", weights_only=True)["model"]
    key = next(k for k in state if k.startswith("audio_encoder.base.htsat.patch_embed"))
    if damage == "rename":
        state[key.replace("patch_embed", "patch_embedding")] = state.pop(key)
    elif damage == "drop":
        state.pop(key)
    else:
        state[key] = torch.zeros(3)
    bad = tmp_path / "bad.pth"
    torch.save({"model": state}, bad)
    with pytest.raises(clap.CheckpointMismatchError, match="patch_embed"):
        clap.load_clap(clap.ModelFiles("bad", bad, files.text_model, True))


def test_empty_store_names_the_fetch_command(tmp_path):
    with pytest.raises(clap.ModelStoreError, match="sec-assets models fetch"):
        clap.resolve_model_files(tmp_path, allow_random_init=False)


def test_fit_clip_is_deterministic():
    short = np.arange(10, dtype=np.float32)
    out = clap.fit_clip(short)
    assert out.size == clap.CLIP_SAMPLES and out[10] == 0 and out[11] == 1
    long = np.arange(clap.CLIP_SAMPLES + 5, dtype=np.float32)
    np.testing.assert_array_equal(clap.fit_clip(long), long[: clap.CLIP_SAMPLES])
