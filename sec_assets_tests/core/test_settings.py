"""One typed config: every setting declared once, validated where it enters — YAML, environment or
the Dagster launchpad — with a message naming the setting and what is allowed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInvalidConfigError, DagsterResourceFunctionError, asset, materialize

from sec_assets.core.settings import GROUPS, Settings, SettingsError, load_settings
from sec_assets.resources import NOT_PER_RUN, SecResource


def test_every_setting_belongs_to_exactly_one_stage_group_and_the_resource_has_them_all():
    names = [n for g in GROUPS for n in g.model_fields]
    assert len(names) == len(set(names))  # declared once
    assert set(names) == set(Settings.model_fields)
    assert set(SecResource.model_fields) == set(Settings.model_fields) - set(NOT_PER_RUN)
    for name, field in SecResource.model_fields.items():  # same description in the launchpad
        assert field.description == Settings.model_fields[name].description, name


def test_settings_layering(tmp_path: Path):
    cfg = tmp_path / "sec.yaml"
    cfg.write_text("segment_seconds: 5\noctaves: [3, 1]\n")
    s = load_settings(config_file=cfg, env={"SEC_HOME": str(tmp_path / "h"), "SEC_OCTAVES": "1,3,12"})
    assert s.segment_seconds == 5 and s.octaves == (1, 3, 12)
    assert s.home == tmp_path / "h" and s.landing == tmp_path / "h" / "landing"
    assert load_settings(env={"SEC_TORCH_THREADS": "3"}).torch_threads == 3
    with pytest.raises(FileNotFoundError):
        load_settings(config_file=tmp_path / "missing.yaml", env={})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SEC_OCTAVES": "0"}, ["'octaves'", "SEC_OCTAVES='0'", "positive integers"]),
        ({"SEC_SEED": "x"}, ["'seed'", "SEC_SEED='x'", "valid integer"]),
        ({"SEC_EMBED_DEVICE": "gpu"}, ["'embed_device'", "SEC_EMBED_DEVICE='gpu'", "auto|cpu|cuda"]),
        ({"SEC_TARGET_SAMPLE_RATE": "-1"}, ["'target_sample_rate'", "greater than 0"]),
    ],
)
def test_a_bad_environment_value_names_the_setting_and_the_variable(env, expected):
    with pytest.raises(SettingsError) as err:
        load_settings(env=env)
    for text in expected:
        assert text in str(err.value)


def test_a_bad_yaml_value_or_an_unknown_key_names_it(tmp_path: Path):
    cfg = tmp_path / "sec.yaml"
    cfg.write_text("level_reference: dB\n")
    with pytest.raises(
        SettingsError, match=r"'level_reference' \(from .*sec.yaml\): Input should be '20uPa' or 'dBFS'"
    ):
        load_settings(config_file=cfg, env={})
    cfg.write_text("segment_secs: 5\n")
    with pytest.raises(SettingsError, match=r"unknown setting\(s\) \['segment_secs'\]"):
        load_settings(config_file=cfg, env={})


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"level_reference": "dB"}, "level_reference not in enum type Literal['20uPa', 'dBFS'] got dB"),
        ({"octave_base": 3}, "'octave_base'"),
        ({"noise_mix": 2.0}, "'noise_mix'"),
        ({"channel": "left"}, "'channel'"),
        ({"split_fractions": {"train": 1.0}}, "split_fractions needs exactly the keys"),
    ],
)
def test_a_bad_launchpad_value_fails_naming_the_setting(tmp_path: Path, config, expected):
    @asset
    def probe(sec: SecResource) -> None:
        raise AssertionError("must not run with a bad setting")

    resource = SecResource.from_settings(load_settings(env={}, home=tmp_path))
    with pytest.raises((DagsterInvalidConfigError, DagsterResourceFunctionError)) as err:
        materialize(
            [probe], resources={"sec": resource}, run_config={"resources": {"sec": {"config": config}}}
        )
    # string choices are checked by Dagster's config schema, the rest by Settings
    assert expected in f"{err.value} {err.value.__cause__}"


def test_launchpad_values_reach_the_typed_settings(tmp_path: Path):
    seen = {}

    @asset
    def probe(sec: SecResource) -> None:
        seen["settings"] = sec.settings

    resource = SecResource.from_settings(load_settings(env={}, home=tmp_path))
    config = {"channel": "1", "gain_db_range": [-3.0, 3.0], "torch_threads": 2, "octave_base": 10}
    assert materialize(
        [probe], resources={"sec": resource}, run_config={"resources": {"sec": {"config": config}}}
    ).success
    s = seen["settings"]
    assert (s.channel, s.gain_db_range, s.torch_threads, s.octave_base) == (1, (-3.0, 3.0), 2, 10)
    assert s.segment_params().channel == 1 and s.home == tmp_path.absolute()
    assert resource.cpu_count() >= 1 and SecResource.from_settings(s).cpu_count() == 2


def test_the_octave_partitions_do_not_depend_on_the_working_directory(tmp_path: Path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "sec.yaml").write_text("octaves: [2]\n")  # a stray file in the cwd
    code = "from sec_assets.partitions import octave_partitions as p; print(','.join(p.get_partition_keys()))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEC_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1,3,6,12,24"  # the project's configs/sec.yaml, not the cwd's


def test_importing_the_definitions_with_a_malformed_variable_names_it(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEC_")}
    code = "import sec_assets.definitions"
    bad = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "SEC_SEED": "zero"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "setting 'seed' (from SEC_SEED='zero')" in bad.stderr
    ok = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "SEC_SLURM_CPUS": "two"},
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]  # executor variables are read when a run starts
