"""Source groups: the recording, speaker, recorder or site that several files share.

Clips cut from one recording (ESC-50's ``src_file``, UrbanSound8K's ``fsID``) or spoken by one
speaker (FSDD) are near-duplicates: if they straddle train and test, held-out figures measure
memory of the recording, not what a user will meet. A group comes from the table's group column
or, for folder data, from the ``group_pattern`` setting: a regular expression searched in the
file's path relative to ``audio_root`` (posix separators), whose named group ``group`` — or its
only group — is the group. FSDD names its files ``{digit}_{speaker}_{take}.wav``, so
``_(?P<group>[a-z]+)_`` gives the speaker. A file the pattern does not match has no group and
keeps the per-file split draw.

**The ESC-50 quirk.** In the real ESC-50 table a few ``src_file`` values appear in two folds under
two categories (131943 is clock_tick in fold 2 and clock_alarm in fold 3; hen/rooster pairs). The
rule here:

- **With official folds, the folds win.** The published protocol is what people compare with, so
  each file keeps its fold even when its group sits in another fold too; such groups are not an
  error but are *reported* (:func:`groups_in_two_folds`), so a report can say "4 source
  recordings appear in two folds (as published)". Where both folds train, the group's one draw
  keeps it on one side of the early-stopping/validation carve; where one of them is the test
  fold, the group is in two splits as the dataset's authors made it, and the split check names it.
- **Without folds, a group is its group value alone**, whatever the labels: every file of
  131943 goes to one split, clock_tick and clock_alarm alike. A group is a recording; that it
  was labelled twice does not make it two recordings.
"""

from __future__ import annotations

import re

import polars as pl

SETTING = "group_pattern"


def compile_group_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled ``group_pattern``; a bad regex, or one without a group to take, is a
    ValueError that names the setting (the message reaches the user as it is)."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{SETTING} {pattern!r} is not a valid regular expression: {exc}") from exc
    if "group" not in compiled.groupindex and compiled.groups != 1:
        raise ValueError(
            f"{SETTING} {pattern!r} must have a named group (?P<group>…) or exactly one group "
            f"(it has {compiled.groups}): the group's text is the file's source group"
        )
    return compiled


def group_of(rel_path: str, compiled: re.Pattern[str]) -> str | None:
    """The group of a file from its posix path relative to ``audio_root`` (searched, not matched
    from the start), or None when the pattern does not match or its group is empty."""
    found = compiled.search(rel_path)
    if found is None:
        return None
    value = found.group("group") if "group" in compiled.groupindex else found.group(1)
    return value or None


def fill_groups(rows: pl.DataFrame, compiled: re.Pattern[str] | None) -> pl.DataFrame:
    """Rows whose ``group`` is null get the pattern's group from their ``path``; a group the table
    gives wins (the table is the more specific statement)."""
    if compiled is None:
        return rows
    derived = pl.Series("derived", [group_of(p, compiled) for p in rows["path"]], dtype=pl.String)
    return rows.with_columns(pl.coalesce(pl.col("group"), derived).alias("group"))


def groups_in_two_folds(rows: pl.DataFrame) -> pl.DataFrame:
    """group → its folds, labels and table rows, for every group whose files sit in more than one
    fold (ESC-50's quirk: reported, the folds win). Rows without group or fold are ignored."""
    schema: dict[str, pl.DataType] = {
        "group": pl.String(),
        "folds": pl.List(pl.Int64),
        "labels": pl.List(pl.String),
        "rows": pl.List(pl.Int64),
    }
    with_both = rows.filter(pl.col("group").is_not_null() & pl.col("fold").is_not_null())
    if with_both.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        with_both.group_by("group")
        .agg(
            pl.col("fold").unique().sort().alias("folds"),
            pl.col("label").unique().sort().alias("labels"),
            pl.col("row").sort().cast(pl.Int64).alias("rows"),
        )
        .filter(pl.col("folds").list.len() > 1)
        .sort("group")
    )
