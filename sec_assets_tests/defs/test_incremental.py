"""A class re-run recomputes only what changed: the manifest reads only files whose size or
mtime moved (a touched file is hashed again and found unchanged), and every step whose inputs,
parameters and code are those of its partition keeps it, with the lineage of the run that made it."""

import os
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from dagster import DagsterInstance, materialize

from sec_assets.core.store import catalog, stat_cache
from sec_assets.defs import ALL_ASSETS
from sec_assets.partitions import class_octave_key
from sec_assets.resources import SecResource
from sec_assets.testing.signals import tone

pytestmark = pytest.mark.slow

STEPS = ["raw_manifest", "splits", "augmented_segments", "clap_embeddings"]


def test_only_what_changed_is_recomputed(demo_dataset, make_settings, dagster_home, tmp_path: Path):
    demo, _ = demo_dataset
    root = tmp_path / "landing"
    shutil.copytree(demo / "tone", root / "tone")
    settings = make_settings(root, octaves=(3,))
    sec = SecResource.from_settings(settings)
    home = settings.home
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("audio_class", ["tone"])

        def run() -> dict[str, dict]:
            meta = {}
            for selection, key in (
                (STEPS, "tone"),
                (["octave_spectrograms"], str(class_octave_key("tone", 3))),
            ):
                result = materialize(
                    ALL_ASSETS,
                    selection=selection,
                    partition_key=key,
                    resources={"sec": sec},
                    instance=instance,
                )
                assert result.success
                for name in selection:
                    values = result.asset_materializations_for_node(name)[0].metadata
                    meta[name] = {k: v.value for k, v in values.items()}
            return meta

        def lineage() -> dict[str, str]:
            rows = catalog.query(
                home, "SELECT asset, run_id FROM lineage WHERE asset <> 'octave_spectrograms'"
            )
            return dict(rows.iter_rows())

        first = run()
        assert not any(m.get("unchanged") for m in first.values())
        files = first["raw_manifest"]["files"]
        assert first["raw_manifest"]["files_reread"] == files and files >= 3
        made = lineage()
        segments = catalog.query(home, "SELECT segment_key, seed FROM segments ORDER BY 1")

        again = run()  # nothing changed: nothing read, nothing recomputed
        assert again["raw_manifest"]["files_reread"] == 0
        assert all(m.get("unchanged") for m in again.values()), {
            k: m.get("unchanged") for k, m in again.items()
        }
        assert again["clap_embeddings"]["computed_by_run"] == made["clap_embeddings"]
        assert lineage() == made

        victim = sorted(p for p in (root / "tone").rglob("*") if p.suffix in (".wav", ".flac"))[0]
        st = victim.stat()
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))  # touched, bytes the same
        touched = run()
        assert touched["raw_manifest"]["files_reread"] == 1  # hashed again, found the same
        assert all(m.get("unchanged") for m in touched.values())
        assert lineage() == made
        assert (
            stat_cache.read(home, "tone")[str(victim.relative_to(root / "tone"))][1]
            == st.st_mtime_ns + 5 * 10**9
        )

        shutil.copy(victim, root / "tone" / f"copy_of_first{victim.suffix}")  # same content: a duplicate
        sf.write(root / "tone" / "extra.wav", tone(700.0, 3 * 16000, 16000, amplitude=0.4), 16000)
        grown = run()
        assert grown["raw_manifest"]["files_reread"] == 2 and not grown["raw_manifest"].get("unchanged")
        assert not any(grown[s].get("unchanged") for s in ("splits", "augmented_segments", "clap_embeddings"))
        assert not grown["octave_spectrograms"].get("unchanged")
        assert grown["clap_embeddings"]["reused"] > 0  # the old segments' vectors are not recomputed
        after = catalog.query(home, "SELECT segment_key, seed FROM segments ORDER BY 1")
        assert after.height > segments.height
        # the old files' segments are the same segments (same keys and seeds): determinism by key
        assert segments.join(after, on="segment_key", how="anti").height == 0
