"""Campaign files: the shipped example, every problem of a broken file with its line, identity."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sec_assets.core.campaign.spec import CampaignInvalid, load_campaign
from sec_assets.core.settings import PROJECT_CONFIG, load_settings
from sec_assets.executor.config import check_config

EXAMPLE = PROJECT_CONFIG.parent / "campaigns" / "demo_segments.yaml"


@pytest.fixture
def base(tmp_path: Path):
    return load_settings(env={}, home=tmp_path / "home", models=tmp_path / "store")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_the_example_campaign_validates(base, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    campaign = load_campaign(EXAMPLE, base, check_config)
    assert campaign.name == "demo_segments"
    assert campaign.home == tmp_path / "home" / "campaigns" / "demo_segments"
    assert [t.name for t in campaign.tasks] == ["seg5", "seg7"]
    seg5, seg7 = campaign.tasks
    assert (seg5.settings.segment_seconds, seg7.settings.segment_seconds) == (5.0, 7.0)
    for task in campaign.tasks:
        assert task.octaves == (3,) and task.run.where == "local"
        assert task.settings.audio_formats == ("flac", "wav")
        assert task.settings.home == campaign.home / task.name
        assert task.settings.landing == tmp_path / ".sec" / "demo_audio"  # relative to where it runs
        assert task.settings.model_store == tmp_path / "store"  # the base's store, not per task
        assert task.settings.allow_random_init is True
    assert seg5.settings.registered_model_prefix == "sec-classifier-demo_segments-seg5"
    assert seg7.settings.mlflow_experiment == "sec_assets/demo_segments/seg7"
    assert seg5.digest != seg7.digest


def test_a_broken_file_names_every_problem_with_its_line(base, tmp_path):
    path = _write(
        tmp_path,
        """
        name: Bad Name
        settings:
          segment_second: 5
          home: /elsewhere
        run:
          where: cloud
        tasks:
          short:
            settings: {segment_seconds: -5}
            octaves: [3, 5]
          gpu:
            formats: [wav, "w/v"]
            run:
              where: slurm
              executor: {time_min: soon, acount: x}
              requests: {gpus: 1.5, memory: 3}
            colour: red
          short: {}
        """,
    )
    with pytest.raises(CampaignInvalid) as caught:
        load_campaign(path, base, check_config)
    found = [(p.line, p.message) for p in caught.value.problems]
    expected = [
        (1, "campaign name 'Bad Name' must be lower-case letters"),
        (3, "unknown setting 'settings.segment_second' (did you mean 'segment_seconds'?)"),
        (4, "'settings.home' cannot be set here"),
        (6, "'run.where' must be one of ['local', 'slurm'], got 'cloud'"),
        (12, "setting 'audio_formats' of task 'gpu': Value error, audio_formats are file extensions"),
        (15, "'tasks.gpu.run.executor.acount': is not an executor setting"),
        (15, "'tasks.gpu.run.executor.time_min': the value must be a whole number >= 1, got 'soon'"),
        (16, "'tasks.gpu.run.requests.gpus' must be a whole number >= 0, got 1.5"),
        (16, "unknown key 'tasks.gpu.run.requests.memory'"),
        (17, "unknown key 'tasks.gpu.colour'"),
        (18, "'tasks.short' is given twice (also line 8)"),
    ]
    assert len(found) == len(expected), found
    for (line, message), (want_line, want) in zip(found, expected, strict=True):
        assert line == want_line and message.startswith(want), (line, message)
    assert f"{path}:16: " in str(caught.value)  # the message a user sees names file and line


def test_bad_settings_values_and_octaves_name_the_task_lines(base, tmp_path):
    path = _write(
        tmp_path,
        """
        tasks:
          short:
            settings:
              seed: 1
              segment_seconds: -5
            octaves: [3, 5]
          wrong_where:
            run: {where: local, requests: {gpus: 1}}
        """,
    )
    with pytest.raises(CampaignInvalid) as caught:
        load_campaign(path, base, check_config)
    found = {(p.line, p.message.split(":")[0]) for p in caught.value.problems}
    assert found == {
        (5, "setting 'segment_seconds' of task 'short'"),
        (
            6,
            "'tasks.short.octaves' must list octave partitions of this code location [1, 3, 6, 12, 24]"
            ", got [3, 5]",
        ),
        (8, "'tasks.wrong_where.run'"),
    }


def test_yaml_syntax_and_empty_files(base, tmp_path):
    with pytest.raises(CampaignInvalid, match=r"campaign.yaml:3: not valid YAML"):
        load_campaign(_write(tmp_path, "tasks:\n  a: {settings: {seed: 1}\n  b: 2\n"), base)
    with pytest.raises(CampaignInvalid, match=r"campaign.yaml:1: a campaign needs at least one task"):
        load_campaign(_write(tmp_path, "description: nothing yet\n"), base)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_campaign(tmp_path / "missing.yaml", base)


def test_slurm_runs_inherit_and_override_and_the_identity_is_stable(base, tmp_path):
    text = """
        run:
          where: slurm
          executor: {account: proj, time_min: 120}
          requests: {gpus: 1}
        tasks:
          a: {}
          b:
            run: {requests: {gpus: 2, mem_gb: 8.5}}
          c:
            run: {where: local, executor: {}, requests: {}}
        """
    campaign = load_campaign(_write(tmp_path, text), base, check_config)
    a, b, c = campaign.tasks
    assert (a.run.where, dict(a.run.executor or {}), dict(a.run.requests or {})) == (
        "slurm",
        {"account": "proj", "time_min": 120},
        {"gpus": 1},
    )
    assert b.run.where == "slurm" and dict(b.run.requests or {}) == {"gpus": 2, "mem_gb": 8.5}
    assert c.run.where == "local" and a.octaves == (1, 3, 6, 12, 24)
    again = load_campaign(_write(tmp_path, text), base, check_config)
    assert [t.digest for t in again.tasks] == [t.digest for t in campaign.tasks]  # no salt, no clock
    changed = load_campaign(_write(tmp_path, text.replace("gpus: 2", "gpus: 3")), base, check_config)
    assert [t.digest == u.digest for t, u in zip(changed.tasks, campaign.tasks, strict=True)] == [
        True,
        False,
        True,
    ]
