"""The clap_embeddings step without Dagster: batching/worker invariance, kill + resume, reuse."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sec_assets.core.audio.segments import encode_audio
from sec_assets.core.features import clap, clap_store, embedding
from sec_assets.core.store import catalog, storage
from sec_assets.testing.signals import chirp, tone, white_noise

DIMS = {"audio_class": "c"}


@pytest.fixture(scope="module")
def model(model_store):
    return clap.load_clap(clap_store.resolve_model_files(model_store, allow_random_init=True))


def _segments(count: int, seed: int = 0) -> pl.DataFrame:
    """Stored-segment rows: mostly 7 s at 44.1 kHz, plus a 3-s 16 kHz one and a 10-s one."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        rate, seconds = (16000, 3.0) if i % 5 == 3 else (44100, 10.0 if i % 5 == 4 else 7.0)
        n = round(rate * seconds)
        x = (
            tone(200.0 * (i + 1), n, rate, amplitude=0.2)
            if i % 3 == 0
            else chirp(100.0, 5000.0, n, rate, amplitude=0.2)
            if i % 3 == 1
            else white_noise(n, rng, rms=0.1)
        )
        rows.append(
            {
                "segment_key": f"c:{i:020d}:0:{i}",
                "source_sha256": f"{i:064d}",
                "sample_rate": rate,
                "audio": encode_audio(x),
            }
        )
    return pl.DataFrame(rows)


def _store_segments(home: Path, frame: pl.DataFrame) -> None:
    storage.write_partition(home, "augmented_segments", DIMS, frame)


def _vectors(home: Path) -> pl.DataFrame:
    return storage.read_partition(home, "clap_embeddings", DIMS).sort("segment_key")


def test_batch_size_and_workers_do_not_change_vectors(tmp_path, model):
    segs = _segments(7)
    results = []
    for name, batch, workers in (("a", 4, 1), ("b", 3, 3)):
        home = tmp_path / name
        _store_segments(home, segs)
        written, stats = embedding.embed_stored_partition(
            home, DIMS, "c", model, f"run-{name}", batch_size=batch, workers=workers, forward_batch=batch
        )
        assert (stats.total, stats.embedded, stats.reused) == (7, 7, 0)
        results.append((written, _vectors(home)))
    (wa, va), (wb, vb) = results
    ea, eb = va["embedding"].to_numpy(), vb["embedding"].to_numpy()
    assert ea.shape == (7, 1024) and np.max(np.abs(ea - eb)) <= 1e-6
    assert np.array_equal(ea, eb)  # in fact bitwise
    assert wa[2] == wb[2] == 7
    # lineage in every row: source, segment audio hash, weights, recipe, run
    assert va["source_sha256"].to_list() == segs.sort("segment_key")["source_sha256"].to_list()
    assert set(va["model_sha256"]) == {model.weights_sha256} and set(va["recipe"]) == {model.recipe}
    assert set(va["run_id"]) == {"run-a"} and va["segment_hash"].n_unique() == 7
    # the 10-s segment is the mean of its two deterministic windows
    ten = segs.filter(pl.col("segment_key") == "c:00000000000000000004:0:4").row(0, named=True)
    windows = clap.prepare_clip(np.frombuffer(ten["audio"], np.float16).astype(np.float32), 44100)
    want = model.embed(windows).mean(axis=0)
    got = va.filter(pl.col("segment_key") == ten["segment_key"])["embedding"].to_numpy()[0]
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_rerun_reuses_and_changed_audio_is_embedded_again(tmp_path, model):
    home = tmp_path / "h"
    segs = _segments(5)
    _store_segments(home, segs)
    first, _ = embedding.embed_stored_partition(home, DIMS, "c", model, "run-1", batch_size=2)
    again, stats = embedding.embed_stored_partition(home, DIMS, "c", model, "run-2", batch_size=4)
    assert (stats.embedded, stats.reused) == (0, 5)
    assert again[1] == first[1]  # identical bytes: same rows, same layout, same run ids
    changed = segs.with_columns(
        pl.when(pl.col("segment_key") == segs["segment_key"][2])
        .then(pl.lit(encode_audio(np.full(44100 * 7, 0.01, np.float32))))
        .otherwise(pl.col("audio"))
        .alias("audio")
    )
    _store_segments(home, pl.concat([changed, _segments(6)[5:]]))  # one changed, one new segment
    _, stats = embedding.embed_stored_partition(home, DIMS, "c", model, "run-3", batch_size=4)
    assert (stats.total, stats.embedded, stats.reused) == (6, 2, 4)
    rows = _vectors(home)
    assert rows.height == 6 and rows["segment_key"].n_unique() == 6
    assert sorted(rows.filter(pl.col("run_id") == "run-3")["segment_key"]) == sorted(
        [segs["segment_key"][2], "c:00000000000000000005:0:5"]
    )
    assert not embedding.resume_shards(home, DIMS).directory.exists()  # cleaned after success
    assert catalog.TABLE_SCHEMAS["clap_embeddings"].keys() == set(rows.columns)


def test_killed_run_resumes_with_only_the_rest(tmp_path, model, model_store):
    """SIGKILL a real embedding process after its first commits; the re-run embeds the rest."""
    count = 12
    home = tmp_path / "h"
    segs = _segments(count)
    _store_segments(home, segs)
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from sec_assets.core.features import clap, clap_store
        from sec_assets.core.features import embedding
        files = clap_store.resolve_model_files(Path({str(model_store)!r}), allow_random_init=True)
        model = clap.load_clap(files)
        def progress(stats):
            print("committed", stats.embedded, flush=True)
            time.sleep(1.0)  # time for the test to kill this process mid-run
        embedding.embed_stored_partition(
            Path({str(home)!r}), {DIMS!r}, "c", model, "killed",
            batch_size=2, commit_rows=2, progress=progress,
        )
        print("finished", flush=True)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = child.stdout.readline()
        assert line.startswith("committed"), line
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    shards = embedding.resume_shards(home, DIMS)
    committed = sum(pl.read_parquet(f).height for f in shards.files())
    assert 2 <= committed < count
    assert not storage.partition_files(home, "clap_embeddings", DIMS)  # nothing half-written is visible
    written, stats = embedding.embed_stored_partition(home, DIMS, "c", model, "resumed", batch_size=4)
    assert (stats.reused, stats.embedded, written[2]) == (committed, count - committed, count)
    rows = _vectors(home)
    assert rows.height == count and rows["segment_key"].n_unique() == count
    assert (rows["run_id"] == "killed").sum() == committed
    # the same vectors as an uninterrupted run
    clean = tmp_path / "clean"
    _store_segments(clean, segs)
    embedding.embed_stored_partition(clean, DIMS, "c", model, "clean", batch_size=5)
    assert np.array_equal(rows["embedding"].to_numpy(), _vectors(clean)["embedding"].to_numpy())
