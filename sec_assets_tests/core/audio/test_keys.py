from pathlib import Path

import pytest

from sec_assets.core.audio.keys import partition_key_for, partition_keys_for
from sec_assets.core.audio.manifest import discover_classes, iter_class_files

FORBIDDEN = ["|", ",", "[", "]", "...", "/", "\n", "\t", " "]
HOSTILE = ["a|b", "x,y", "a..b", "Grüße 鳥", "two words", "a_b", "a b", "[x]", "...", "dog/cat"[:3]]


def test_plain_names_are_kept():
    assert partition_key_for("dog") == "dog"
    assert partition_key_for("bird-song_2.v1") == "bird-song_2.v1"


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_give_safe_keys(name):
    key = partition_key_for(name)
    assert key and all(bad not in key for bad in FORBIDDEN)
    assert key.isascii() and len(key) <= 64
    assert not key.startswith(".")
    assert partition_key_for(name) == key  # a pure function of the name


def test_names_that_differ_only_by_a_removed_character_stay_unique():
    mapping = partition_keys_for(["a|b", "a,b", "a b", "ab", "a_b", "a..b", "a.b"])
    assert len(set(mapping.values())) == len(mapping) == 7
    assert mapping["a_b"] == "a_b" and mapping["ab"] == "ab" and mapping["a.b"] == "a.b"
    assert mapping["a|b"].startswith("a_b-") and mapping["a..b"].startswith("a.b-")


def test_unicode_is_transliterated_and_disambiguated():
    assert partition_key_for("Grüße").startswith("Grue-")
    assert partition_key_for("鳥").startswith("class-")
    assert partition_key_for("鳥") != partition_key_for("猫")


def test_empty_name_is_an_error():
    with pytest.raises(ValueError):
        partition_key_for("  ")


def test_hidden_folders_and_files_are_ignored(tmp_path: Path):
    for rel in [
        "dog/a.wav",
        "dog/.hidden.wav",
        "dog/.cache/b.wav",
        "dog/sub/c.wav",
        ".trash/d.wav",
        "a|b/e.wav",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    classes = discover_classes(tmp_path)
    assert set(classes.values()) == {"dog", "a|b"}
    assert classes["dog"] == "dog"
    files = [p.relative_to(tmp_path / "dog").as_posix() for p in iter_class_files(tmp_path / "dog")]
    assert files == ["a.wav", "sub/c.wav"]


def test_missing_landing_folder_names_the_setting(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="SEC_AUDIO_ROOT"):
        discover_classes(tmp_path / "nope")
