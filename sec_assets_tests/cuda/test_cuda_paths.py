"""Every CUDA path of the product against its CPU or float64 reference (skipped without a GPU).

- the CLAP audio tower on ``cuda`` in fp32 and bf16 against the CPU's vectors (cosine);
- the n-octave filterbank on CUDA against the float64 reference, under the CPU path's contract
  (``sec_assets_tests/core/features/test_octave.py``), and against the CPU path itself;
- the ``octave_cnn`` candidate trained twice on CUDA: the same weights, bit for bit;
- labelling recordings (the inbox's path, :func:`label_recordings`) with CLAP and the filterbank
  on CUDA gives the CPU's labels.

The tolerances are the bounds asserted; ``scripts/gpu_check.sh`` records the measured values
(``clap_cosine_min_*``, ``octave_n*_gpu_vs_cpu_max_db``) in its report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf
import torch

from sec_assets.core.audio.manifest import FilePolicy
from sec_assets.core.audio.segments import SegmentParams
from sec_assets.core.evaluation.chance import macro_f1
from sec_assets.core.features import clap, clap_store, octave
from sec_assets.core.features.spectrogram import LevelParams
from sec_assets.core.hashing import stable_seed
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import label_recordings
from sec_assets.core.inference.windows import WindowParams, grade, recording_windows
from sec_assets.core.models.candidates import DEFAULT_CANDIDATES, Candidate
from sec_assets.core.models.learn import train_candidate
from sec_assets.testing.signals import chirp, pink_noise, tone, white_noise
from sec_assets.testing.time_order import time_order_data
from sec_assets.testing.tiny_champion import tiny_champion

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none)"),
]

SR = 44100
CLAP_MIN_COSINE = {"fp32": 0.999, "bf16": 0.99}
FILTERBANK_DB = 0.5  # the CPU path's contract against the float64 reference
GPU_VS_CPU_DB = 0.05  # the CUDA fast path against the CPU fast path, same bands and frames
LABEL_PROBABILITY = {"fp32": 1e-3, "bf16": 2e-2}  # |Δ probability| CUDA vs CPU, any window and class


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def clap_files(model_store: Path) -> clap.ModelFiles:
    return clap_store.resolve_model_files(model_store, allow_random_init=True)


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    rng = np.random.default_rng(stable_seed("cuda-check", "clap clips"))
    n = clap.CLIP_SAMPLES
    signals = [white_noise(n, rng), pink_noise(n, rng), tone(440.0, n, SR, 0.2), chirp(50.0, 15000.0, n, SR)]
    return np.stack(signals).astype(np.float32)


@pytest.fixture(scope="module")
def cpu_vectors(clap_files: clap.ModelFiles, clips: np.ndarray) -> np.ndarray:
    return clap.load_clap(clap_files, device="cpu").embed(clips)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_clap_audio_tower_on_cuda_matches_the_cpu(clap_files, clips, cpu_vectors, precision: str):
    model = clap.load_clap(clap_files, device="cuda", precision=precision)
    assert (model.device, model.precision) == ("cuda", precision)
    assert model.recipe.endswith(f"/cuda-{precision}")  # resume keys keep CUDA and CPU vectors apart
    vectors = model.embed(clips)
    assert vectors.shape == (len(clips), clap.EMBEDDING_DIM) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    similarity = cosines(vectors, cpu_vectors)
    assert similarity.min() >= CLAP_MIN_COSINE[precision], similarity
    one_by_one = np.concatenate([model.embed(c[None]) for c in clips])  # batch 4 vs batch 1
    assert cosines(one_by_one, vectors).min() >= CLAP_MIN_COSINE[precision]


@pytest.mark.parametrize("n", [3, 24])
def test_filterbank_on_cuda_meets_the_reference_contract(n: int):
    bands = octave.band_grid(n, SR)
    resolvable = (bands.upper - bands.lower) * 0.1 >= 1
    settle = np.maximum(1, np.ceil(5.7 / ((bands.upper - bands.lower) * 0.1))).astype(int)
    centres = bands.center[resolvable][:: max(1, int(resolvable.sum()) // 3)][:3]
    length = 7 * SR
    noise = white_noise(length, np.random.default_rng(stable_seed("cuda-check", "filterbank", n)))
    x = np.stack([*(tone(fc, length, SR, amplitude=0.1) for fc in centres), noise]).astype(np.float32)
    gpu = octave.fast_levels(x, SR, n, device="cuda")
    cpu = octave.fast_levels(x, SR, n, device="cpu")
    assert gpu.shape == cpu.shape == (len(x), 70, len(bands)) and np.isfinite(gpu).all()
    for i, fc in enumerate(centres):
        ref = octave.reference_levels(x[i], SR, n)
        steady = np.arange(ref.shape[0])[:, None] >= settle[None, :]
        mask = steady & (ref >= ref.max(axis=1, keepdims=True) - 50) & resolvable[None]
        assert np.max(np.abs(gpu[i] - ref)[mask]) < FILTERBANK_DB, fc
        assert np.max(np.abs(gpu[i] - cpu[i])[mask]) < GPU_VS_CPU_DB, fc

    def leq(levels: np.ndarray) -> np.ndarray:
        return 10 * np.log10(np.mean(10 ** (levels.astype(np.float64) / 10), axis=-2))

    ok = resolvable & (bands.upper < 0.9 * SR / 2)
    ref_noise = leq(octave.reference_levels(x[-1], SR, n))
    assert np.max(np.abs(leq(gpu[-1]) - ref_noise)[ok]) < FILTERBANK_DB
    assert np.max(np.abs(leq(gpu[-1]) - leq(cpu[-1]))[ok]) < GPU_VS_CPU_DB


def test_octave_cnn_trains_reproducibly_on_cuda():
    data = time_order_data()
    train, es, valid = (data.subset(data.mask(s)) for s in ("train", "es", "valid"))
    spec = next(c for c in DEFAULT_CANDIDATES if c["features"] == "octave_cnn")
    candidate = Candidate.model_validate(spec)
    first = train_candidate(candidate, train, es, seed=0, device="cuda")
    second = train_candidate(candidate, train, es, seed=0, device="cuda")
    assert (first.epochs, first.best_epoch, first.best_es_loss) == (
        second.epochs,
        second.best_epoch,
        second.best_es_loss,
    )
    assert first.state.keys() == second.state.keys()
    for name in first.state:
        np.testing.assert_array_equal(first.state[name], second.state[name], err_msg=name)
    assert first.to_bytes() == second.to_bytes()
    predicted = first.probabilities(valid).argmax(axis=1)  # scoring runs on the CPU
    assert macro_f1(valid.labels, predicted) >= 0.95  # as on the CPU (test_time_order_and_chance.py)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list:
    rate = 16000
    folder = tmp_path_factory.mktemp("cuda_inbox")
    rng = np.random.default_rng(stable_seed("cuda-check", "recordings"))
    signals = {
        "sweep.wav": chirp(100.0, 7000.0, 40 * rate, rate, amplitude=0.3) + white_noise(40 * rate, rng, 0.01),
        "short.wav": tone(900.0, 3 * rate, rate, amplitude=0.2),  # shorter than a window: padded
    }
    sources = []
    for name, x in signals.items():
        sf.write(folder / name, x.astype(np.float32), rate)
        source, _ = grade(folder / name, folder, FilePolicy())
        assert source is not None
        sources.append(source)
    return sources


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_labelling_on_cuda_reproduces_the_cpu_labels(clap_files, recordings, precision: str):
    params = WindowParams().segment_params(SegmentParams(sample_rate=16000))
    levels = [LevelParams(n=3, sample_rate=16000)]
    on_cpu = Featurizer(clap.load_clap(clap_files, device="cpu"), levels)
    features, _ = on_cpu.features(next(recording_windows(recordings[0], params)))
    assert len(features[3]) == 8  # 40 s in 5-s windows: labels a..d twice, learned to confidence
    champion = tiny_champion(features[3], 3, classes=4, epochs=60)
    model = clap.load_clap(clap_files, device="cuda", precision=precision)
    on_gpu = Featurizer(
        model, levels, spectrogram_device="cuda", forward_batch=clap.gpu_batch_size(model.device)
    )
    tables = []
    for featurizer in (on_cpu, on_gpu):
        done = list(label_recordings(iter(recordings), params, featurizer, [champion], {}, 4, 0.0))
        assert [d.windows for d in done] == [8, 1] and all(not d.failures for d in done)
        tables.append(
            pl.concat([d.rows for d in done]).select("path", "window_index", "rank", "label", "probability")
        )
    cpu, gpu = tables
    top = pl.col("rank") == 1
    assert cpu.filter(top)["label"].to_list() == gpu.filter(top)["label"].to_list()
    assert cpu.filter(top)["probability"].min() > 0.5  # the labels are confident, not a coin toss
    joined = cpu.join(gpu, on=["path", "window_index", "label"], suffix="_gpu")
    assert joined.height == cpu.height == gpu.height
    delta = (joined["probability"] - joined["probability_gpu"]).abs().max()
    assert delta < LABEL_PROBABILITY[precision], delta
