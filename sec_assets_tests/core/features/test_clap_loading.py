"""CLAP loading, preprocessing and text through the real path, on the seeded random-init
2023-architecture model with a tiny local GPT-2 (built by the session fixture, never downloaded)."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

from sec_assets.core.features import clap, clap_store
from sec_assets.testing.signals import tone, white_noise
from sec_assets_tests.core.features.msclap_reference import msclap_wrapper

SR = clap.SAMPLE_RATE


@pytest.fixture(scope="module")
def loaded(model_store):
    files = clap_store.resolve_model_files(model_store, allow_random_init=True)
    return clap.load_clap(files, need_text=True)


def _checkpoint(files):
    return torch.load(files.weights, map_location="cpu", weights_only=True)["model"]


def test_random_init_model_loads_strictly_and_embeds(loaded):
    assert loaded.files.random_init and len(loaded.weights_sha256) == 64
    state = _checkpoint(loaded.files)
    audio_keys = {k.removeprefix("audio_encoder.") for k in state if k.startswith("audio_encoder.")}
    assert set(loaded.audio.state_dict()) == audio_keys  # 0 missing, 0 unexpected audio keys
    x = np.random.default_rng(0).standard_normal((3, clap.CLIP_SAMPLES)).astype(np.float32) * 0.1
    a = loaded.embed(x)
    assert a.shape == (3, 1024) and a.dtype == np.float32 and np.all(np.isfinite(a))
    # one clip per forward on CPU: a vector does not depend on its batch (bitwise)
    np.testing.assert_array_equal(loaded.embed(x[1:2]), a[1:2])
    assert "torchaudio" not in sys.modules  # the seam keeps msclap's wrapper out
    assert loaded.recipe.startswith(clap.AUDIO_RECIPE) and loaded.recipe.endswith("cpu-fp32")


@pytest.mark.parametrize("damage", ["rename", "drop", "reshape"])
def test_damaged_audio_checkpoint_fails_loudly(model_store, tmp_path, damage):
    files = clap_store.resolve_model_files(model_store, allow_random_init=True)
    state = _checkpoint(files)
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


def test_text_keys_are_optional_only_without_text(model_store, tmp_path):
    files = clap_store.resolve_model_files(model_store, allow_random_init=True)
    state = _checkpoint(files)
    audio_only = {k: v for k, v in state.items() if not k.startswith("caption_encoder.")}
    path = tmp_path / "audio_only.pth"
    torch.save({"model": audio_only}, path)
    no_text = clap.ModelFiles("audio-only", path, files.text_model, True)
    assert clap.load_clap(no_text).embed(np.zeros((1, clap.CLIP_SAMPLES), np.float32)).shape == (1, 1024)
    with pytest.raises(clap.TextModelUnavailable, match="caption_encoder"):
        clap.load_clap(no_text, need_text=True)
    renamed = dict(state)
    key = next(k for k in renamed if k.startswith("caption_encoder.base.h.0"))
    renamed[key.replace(".h.0", ".h.9")] = renamed.pop(key)
    path = tmp_path / "renamed.pth"
    torch.save({"model": renamed}, path)
    with pytest.raises(clap.CheckpointMismatchError, match=r"caption_encoder\.base\.h\.9"):
        clap.load_clap(clap.ModelFiles("renamed", path, files.text_model, True), need_text=True)


def test_empty_store_names_the_fetch_command(tmp_path):
    with pytest.raises(clap.ModelStoreError, match="sec-assets models fetch"):
        clap_store.resolve_model_files(tmp_path, allow_random_init=False)


@pytest.mark.parametrize("seconds", [3.0, 7.0])
def test_preprocessing_and_embedding_match_msclaps_own_path(loaded, seconds):
    """The same 44.1 kHz tensor through msclap's preprocessing code and through ours."""
    n = round(seconds * SR)
    audio = (tone(440.0, n, SR, amplitude=0.3) + white_noise(n, np.random.default_rng(1), rms=0.05)).astype(
        np.float32
    )
    wrapper = msclap_wrapper(loaded.audio, loaded.text, loaded.tokenizer, str(loaded.files.text_model))
    wrapper.tensors["x"] = torch.from_numpy(audio.copy()).reshape(1, -1)
    theirs = wrapper.preprocess_audio(["x"], resample=True)  # (1, 1, 308700)
    ours = clap.prepare_clip(audio, SR)
    np.testing.assert_array_equal(ours, theirs.reshape(1, -1).numpy())
    np.testing.assert_array_equal(loaded.embed(ours), wrapper._get_audio_embeddings(theirs).numpy())


def test_longer_input_is_cut_into_deterministic_windows():
    x = np.arange(10 * SR, dtype=np.float32)
    w = clap.prepare_clip(x, SR)
    assert w.shape == (2, clap.CLIP_SAMPLES)
    np.testing.assert_array_equal(w[0], x[: clap.CLIP_SAMPLES])  # first window at 0
    np.testing.assert_array_equal(w[1], x[-clap.CLIP_SAMPLES :])  # last one ends at the end
    np.testing.assert_array_equal(clap.prepare_clip(x, SR), w)  # no random crop


def test_other_rates_are_resampled_not_fed_raw(tmp_path):
    """48 kHz stereo from a real file: mixed by mean, resampled, the tone stays at 1 kHz."""
    n = 3 * 48000
    left = tone(1000.0, n, 48000, amplitude=0.5)
    path = tmp_path / "x.flac"
    sf.write(path, np.stack([left, 0.5 * left], axis=1), 48000)
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    w = clap.prepare_clip(data.T, rate)
    assert w.shape == (1, clap.CLIP_SAMPLES)
    first = w[0, : 3 * SR]  # 3 s resampled to 44.1 kHz, then repeated
    spectrum = np.abs(np.fft.rfft(first * np.hanning(first.size)))
    assert abs(np.argmax(spectrum) * SR / first.size - 1000.0) < 1.0
    assert abs(np.max(np.abs(first)) - 0.375) < 0.01  # mean of 0.5 and 0.25 amplitude


def test_text_tokens_and_embeddings_match_msclap(loaded):
    prompts = ["this is the sound of dog bark", "this is the sound of rain"]
    wrapper = msclap_wrapper(loaded.audio, loaded.text, loaded.tokenizer, str(loaded.files.text_model))
    theirs = wrapper.preprocess_text(prompts)
    ours = loaded.tokenizer(
        [p + " " + clap.EOS for p in prompts],
        max_length=clap.TEXT_LEN,
        padding="max_length",
        return_tensors="pt",
    )
    assert torch.equal(theirs["input_ids"], ours["input_ids"])
    assert loaded.tokenizer.pad_token_id == 0  # msclap's last-token pooling counts ids ≠ 0
    np.testing.assert_array_equal(loaded.embed_text(prompts), wrapper._get_text_embeddings(theirs).numpy())


def test_nothing_reaches_the_network(model_store, tmp_path):
    """Load (audio + text), embed audio and text in a process whose sockets are blocked."""
    script = textwrap.dedent(
        f"""
        import socket
        attempts = []
        def refuse(*args, **kwargs):
            attempts.append(args[1:] if len(args) > 1 else args)
            raise OSError("network blocked by test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        import numpy as np
        from pathlib import Path
        from sec_assets.core.features import clap, clap_store
        from sec_assets.core.models import zero_shot
        files = clap_store.resolve_model_files(Path({str(model_store)!r}), allow_random_init=True)
        model = clap.load_clap(files, need_text=True)
        audio = model.embed(clap.prepare_clip(np.ones(16000, np.float32) * 0.1, 16000))
        result = zero_shot.zero_shot(model, np.repeat(audio, 2, 0), np.array([0, 1]), ["dog", "rain"])
        print("attempts", len(attempts), "n", result["n"])
        """
    )
    env = {
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "0",
        "TOKENIZERS_PARALLELISM": "false",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "attempts 0 n 2" in done.stdout


def test_fetched_checkpoint_is_made_tensors_only(model_store, tmp_path):
    """A checkpoint with training state beside the weights (needs full unpickling) is converted
    once at fetch time; compute steps then load it with weights_only=True, strictly."""
    import argparse

    from sec_assets.core.features.clap_store import tensors_only_checkpoint

    files = clap_store.resolve_model_files(model_store, allow_random_init=True)
    state = _checkpoint(files)
    path = tmp_path / clap_store.WEIGHTS_FILE
    torch.save({"model": state, "args": argparse.Namespace(lr=1e-4), "epoch": 41}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    done = tensors_only_checkpoint(path)
    assert done["converted"] is True and len(done["original_sha256"]) == 64
    assert tensors_only_checkpoint(path)["converted"] is False  # idempotent
    loaded = clap.load_clap(clap.ModelFiles("msclap-2023", path, files.text_model, False), need_text=True)
    x = np.zeros((1, clap.CLIP_SAMPLES), np.float32)
    original = clap.load_clap(files)
    np.testing.assert_array_equal(loaded.embed(x), original.embed(x))
