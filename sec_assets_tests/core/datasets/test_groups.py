"""Source groups: the pattern setting checked with its name, FSDD's speaker from the file name, the
table's group winning over the pattern, and ESC-50's quirk reported (groups in two folds)."""

import polars as pl
import pytest

from sec_assets.core.datasets.groups import compile_group_pattern, fill_groups, group_of, groups_in_two_folds
from sec_assets.core.datasets.table import read_dataset_table
from sec_assets.testing.dataset_tables import (
    ESC50_COLUMNS,
    FSDD_PATTERN,
    FSDD_SPEAKERS,
    QUIRK_GROUPS,
    fsdd_names,
    write_esc50_like,
)


def test_fsdd_names_give_the_speaker():
    compiled = compile_group_pattern(FSDD_PATTERN)
    assert group_of("7_jackson_32.wav", compiled) == "jackson"
    assert group_of("recordings/0_yweweler_0.wav", compiled) == "yweweler"
    groups = {group_of(name, compiled) for name in fsdd_names()}
    assert groups == set(FSDD_SPEAKERS)


def test_one_unnamed_group_a_folder_and_no_match():
    recorder = compile_group_pattern(r"^site-\w+/(rec\d+)/")
    assert group_of("site-a/rec07/clip_1.wav", recorder) == "rec07"
    assert group_of("site-a/clip_1.wav", recorder) is None  # no match: the file's own draw
    assert group_of("x.wav", compile_group_pattern(r"(?P<group>\d*)\.wav")) is None  # empty match


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("_(?P<group>[a-z]+", "not a valid regular expression"),
        ("(unbalanced", "not a valid regular expression"),
        ("[a-z]+_", "exactly one group (it has 0)"),
        ("(a)_(b)", "exactly one group (it has 2)"),
        ("(?P<speaker>[a-z]+)_(?P<take>\\d+)", "named group (?P<group>"),
    ],
)
def test_a_bad_pattern_names_the_setting(pattern, says):
    with pytest.raises(ValueError, match="group_pattern") as caught:
        compile_group_pattern(pattern)
    assert says in str(caught.value) and repr(pattern) in str(caught.value)


def test_a_named_group_beside_others_is_taken():
    compiled = compile_group_pattern(r"(\d)_(?P<group>[a-z]+)_(\d+)")
    assert group_of("3_theo_12.wav", compiled) == "theo"


def test_the_tables_group_wins_and_the_pattern_fills_the_rest():
    rows = pl.DataFrame({"path": ["1_theo_0.wav", "2_lucas_0.wav", "x.wav"], "group": ["r9", None, None]})
    filled = fill_groups(rows, compile_group_pattern(FSDD_PATTERN))
    assert filled["group"].to_list() == ["r9", "lucas", None]
    assert fill_groups(rows, None).equals(rows)


def test_esc50_quirk_groups_in_two_folds_are_reported(tmp_path):
    table, audio = write_esc50_like(tmp_path)
    rows = read_dataset_table(table, ESC50_COLUMNS, audio).rows
    quirks = groups_in_two_folds(rows)
    assert quirks["group"].to_list() == list(QUIRK_GROUPS)
    assert quirks["folds"].to_list() == [[1, 2], [3, 4]]
    assert quirks["labels"].to_list() == [["dog", "rooster"], ["cow", "pig"]]
    assert all(len(r) == 2 for r in quirks["rows"].to_list())
    assert groups_in_two_folds(rows.filter(~pl.col("group").is_in(list(QUIRK_GROUPS)))).is_empty()
    assert groups_in_two_folds(rows.with_columns(pl.lit(None, pl.Int64).alias("fold"))).is_empty()
