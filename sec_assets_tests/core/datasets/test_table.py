"""Dataset tables: CSV/TSV/Parquet read alike, bad tables fail whole naming file/row/column, a bad
audio file is one row's recorded failure, label spellings warn, and the per-label rows hash."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf
from pydantic import ValidationError

from sec_assets.core.datasets.table import (
    ROWS_SCHEMA,
    DatasetColumns,
    DatasetTableError,
    read_dataset_table,
    rows_hash_by_label,
)

COLS = DatasetColumns(
    path="filename", label="category", group="src", fold="fold", start_s="start", end_s="end"
)
BASIC = DatasetColumns(path="filename", label="category")


def wav(path: Path, seed: int = 0, seconds: float = 0.2, rate: int = 8000) -> Path:
    """A real little WAV file (distinct bytes per seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).uniform(-0.3, 0.3, int(seconds * rate)).astype("float32")
    sf.write(path, noise, rate, subtype="PCM_16")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    audio = tmp_path / "audio"
    for i, name in enumerate(["a.wav", "b.wav", "c.wav", "sub/d.wav"]):
        wav(audio / name, seed=i)
    return audio


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- reading -------------------------------------------------------------------------------------


def test_csv_tsv_and_parquet_give_the_same_rows(tmp_path, root):
    frame = pl.DataFrame(
        {
            "filename": ["a.wav", "sub/d.wav", "b.wav", "b.wav"],
            "category": ["dog", "cat", "dog", "dog"],
            "src": ["r1", "r2", "", "r3"],
            "fold": ["1", "2", "3", "3"],
            "start": ["", "", "0", "0.1"],
            "end": ["", "", "0.1", "0.2"],
            "take": ["A", "B", "A", "B"],
            "esc10": ["True", "False", "True", "True"],
        }
    )
    frame.write_csv(tmp_path / "t.csv")
    frame.write_csv(tmp_path / "t.tsv", separator="\t")
    typed = frame.with_columns(
        pl.col("fold").cast(pl.Int64),
        pl.col("start").replace("", None).cast(pl.Float64),
        pl.col("end").replace("", None).cast(pl.Float64),
    )
    typed.write_parquet(tmp_path / "t.parquet")
    csv = read_dataset_table(tmp_path / "t.csv", COLS, root)
    assert csv.failures.is_empty() and csv.warnings == ()
    assert csv.rows.to_dicts()[0] == {
        "row": 1,
        "path": "a.wav",
        "label": "dog",
        "group": "r1",
        "fold": 1,
        "start_s": None,
        "end_s": None,
        "meta": json.dumps({"esc10": "True", "take": "A"}, separators=(",", ":")),
    }
    assert csv.rows["group"].to_list() == ["r1", "r2", None, "r3"]
    assert csv.rows["start_s"].to_list() == [None, None, 0.0, 0.1]
    tsv = read_dataset_table(tmp_path / "t.tsv", COLS, root)
    assert tsv.rows.equals(csv.rows)
    parquet = read_dataset_table(tmp_path / "t.parquet", COLS, root)
    assert parquet.rows.drop("meta").equals(csv.rows.drop("meta"))
    assert parquet.rows.schema == csv.rows.schema


def test_paths_are_normalised_relative_posix_and_absolute_paths_inside_the_root_are_kept(tmp_path, root):
    table = write(
        tmp_path / "t.csv", f"filename,category\n./a.wav,dog\nsub/../b.wav,dog\n{root / 'sub/d.wav'},cat\n"
    )
    read = read_dataset_table(table, BASIC, root)
    assert read.rows["path"].to_list() == ["a.wav", "b.wav", "sub/d.wav"]
    assert read.rows["meta"].to_list() == ["{}"] * 3


def test_a_symlink_inside_the_root_is_kept_by_its_own_name(tmp_path, root):
    (root / "alias.wav").symlink_to(root / "a.wav")
    read = read_dataset_table(write(tmp_path / "t.csv", "filename,category\nalias.wav,dog\n"), BASIC, root)
    assert read.rows["path"].to_list() == ["alias.wav"] and read.failures.is_empty()


def test_a_file_with_several_clips_is_fine_when_their_bounds_differ(tmp_path, root):
    table = write(tmp_path / "t.csv", "f,l,s,e\na.wav,dog,0,0.1\na.wav,dog,0.1,0.2\na.wav,cat,0.05,0.15\n")
    cols = DatasetColumns(path="f", label="l", start_s="s", end_s="e")
    assert read_dataset_table(table, cols, root).rows.height == 3


def test_rows_whose_audio_file_is_missing_or_unreadable_are_recorded_and_the_others_go_on(tmp_path, root):
    (root / "text.wav").write_text("this is not audio, it is text\n" * 10)
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.txt").write_text("hello")
    (root / "folder.wav").mkdir()
    (root / "dangling.wav").symlink_to(root / "gone.wav")
    table = write(
        tmp_path / "t.csv",
        "filename,category\na.wav,dog\nmissing.wav,dog\ntext.wav,dog\nb.wav,cat\nempty.wav,cat\n"
        "notes.txt,cat\nfolder.wav,cat\ndangling.wav,dog\nsub/d.wav,cat\n",
    )
    read = read_dataset_table(table, BASIC, root)
    assert read.rows["row"].to_list() == [1, 4, 9]
    assert read.rows["path"].to_list() == ["a.wav", "b.wav", "sub/d.wav"]
    reasons = dict(zip(read.failures["row"].to_list(), read.failures["reason"].to_list(), strict=True))
    assert read.failures["path"].to_list() == [
        "missing.wav",
        "text.wav",
        "empty.wav",
        "notes.txt",
        "folder.wav",
        "dangling.wav",
    ]
    assert reasons[2].startswith("missing")
    assert "text" in reasons[3] and "libsndfile" in reasons[3]
    assert reasons[5] == "empty file (0 bytes)"
    assert reasons[6].startswith("not an audio file")
    assert reasons[7].startswith("not a file")
    assert reasons[8].startswith("broken symbolic link")


def test_labels_differing_only_by_case_or_whitespace_warn_naming_them_and_their_rows(tmp_path, root):
    table = write(
        tmp_path / "t.csv", 'filename,category\na.wav,Dog\nb.wav,dog\nc.wav,"dog "\nsub/d.wav,cat\n'
    )
    read = read_dataset_table(table, BASIC, root)
    assert read.rows["label"].to_list() == ["Dog", "dog", "dog ", "cat"]  # kept as written
    assert len(read.warnings) == 1
    warning = read.warnings[0]
    assert "'Dog' in rows 1" in warning and "'dog' in rows 2" in warning and "'dog ' in rows 3" in warning
    assert "cat" not in warning


# --- bad tables --------------------------------------------------------------------------------

HEADER = "filename,category,src,fold,start,end\n"


def _csv(body: str, header: str = HEADER):
    return lambda path: write(path, header + body)


def _raw(data: bytes):
    def make(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return make


def _parquet(frame: pl.DataFrame):
    def make(path: Path) -> Path:
        frame.write_parquet(path)
        return path

    return make


# id, table name, maker (None: no file), expected fragments (beside the table's path)
BAD_TABLES = [
    ("missing table", "t.csv", None, ["does not exist"]),
    ("empty file", "t.csv", _raw(b""), ["empty (0 bytes)"]),
    ("header only", "t.csv", _csv(""), ["no rows"]),
    ("unsupported format", "t.xlsx", _raw(b"PK\x03\x04"), ["unsupported table format '.xlsx'"]),
    ("corrupt parquet", "t.parquet", _raw(b"\x00garbage, not parquet"), ["cannot read the PARQUET"]),
    ("ragged csv", "t.csv", _csv("a.wav,dog,r1,1,,,extra,more\n"), ["cannot read the CSV"]),
    (
        "path column missing",
        "t.csv",
        _csv("a.wav,dog\n", "file,category\n"),
        ["'filename' (path)", "the table has the columns 'file', 'category'"],
    ),
    (
        "label column missing",
        "t.csv",
        _csv("a.wav,dog\n", "filename,class\n"),
        ["'category' (label)", "'class'"],
    ),
    (
        "group column missing",
        "t.csv",
        _csv("a.wav,dog,1,,\n", "filename,category,fold,start,end\n"),
        ["'src' (group)"],
    ),
    (
        "fold and bounds missing",
        "t.csv",
        _csv("a.wav,dog,r\n", "filename,category,src\n"),
        ["'fold' (fold)", "'start' (start_s)", "'end' (end_s)"],
    ),
    (
        "empty label",
        "t.csv",
        _csv("a.wav,dog,r1,1,,\nb.wav,,r2,1,,\n"),
        ["row 2", "column 'category'", "empty label"],
    ),
    (
        "blank label",
        "t.csv",
        _csv('a.wav,dog,r1,1,,\nb.wav,dog,r2,1,,\nc.wav,"  ",r3,1,,\n'),
        ["row 3", "'category'"],
    ),
    (
        "empty path",
        "t.csv",
        _csv("a.wav,dog,r1,1,,\n,dog,r2,1,,\n"),
        ["row 2", "column 'filename'", "empty path"],
    ),
    (
        "duplicate path",
        "t.csv",
        _csv("a.wav,dog,r1,1,,\nb.wav,dog,r2,1,,\na.wav,cat,r3,2,,\n"),
        ["rows 1, 3", "column 'filename'", "'a.wav' is listed twice"],
    ),
    (
        "duplicate after normalising",
        "t.csv",
        _csv("./a.wav,dog,r1,1,,\nsub/../a.wav,dog,r1,1,,\n"),
        ["rows 1, 2", "'filename'", "listed twice"],
    ),
    (
        "duplicate clip",
        "t.csv",
        _csv("a.wav,dog,r1,1,0,1\na.wav,dog,r1,1,1,2\na.wav,dog,r1,1,0,1\n"),
        ["rows 1, 3", "'filename'", "same clip 0–1 s"],
    ),
    (
        "path climbing out",
        "t.csv",
        _csv("a.wav,dog,r1,1,,\n../outside.wav,dog,r2,1,,\n"),
        ["row 2", "'filename'", "outside audio_root", "'..'"],
    ),
    (
        "absolute path elsewhere",
        "t.csv",
        _csv("/etc/hostname,dog,r1,1,,\n"),
        ["row 1", "'filename'", "outside"],
    ),
    (
        "symlink out of the root",
        "t.csv",
        _csv("a.wav,dog,r1,1,,\nescape.wav,dog,r2,1,,\n"),
        ["row 2", "symbolic link"],
    ),
    (
        "fold a word",
        "t.csv",
        _csv("a.wav,dog,r1,1,,\nb.wav,dog,r2,one,,\n"),
        ["row 2", "column 'fold'", "'one'"],
    ),
    (
        "fold a fraction",
        "t.csv",
        _csv("a.wav,dog,r1,1.5,,\n"),
        ["row 1", "column 'fold'", "'1.5' is not an integer"],
    ),
    (
        "fold in parquet",
        "t.parquet",
        _parquet(
            pl.DataFrame(
                {
                    "filename": ["a.wav", "b.wav"],
                    "category": ["x", "y"],
                    "src": ["1", "2"],
                    "fold": ["1", "2b"],
                    "start": [None, None],
                    "end": [None, None],
                }
            )
        ),
        ["row 2", "column 'fold'", "'2b'"],
    ),
    ("start not a number", "t.csv", _csv("a.wav,dog,r1,1,zero,1\n"), ["row 1", "column 'start'", "'zero'"]),
    ("end infinite", "t.csv", _csv("a.wav,dog,r1,1,0,inf\n"), ["row 1", "column 'end'", "not a number"]),
    (
        "negative start",
        "t.csv",
        _csv("a.wav,dog,r1,1,0,1\nb.wav,dog,r1,1,-1,1\n"),
        ["row 2", "'start'", "negative"],
    ),
    (
        "end before start",
        "t.csv",
        _csv("a.wav,dog,r1,1,2,1\n"),
        ["row 1", "column 'end'", "at or before its start"],
    ),
    (
        "end equals start",
        "t.csv",
        _csv("a.wav,dog,r1,1,0,1\nb.wav,dog,r1,1,1,1\n"),
        ["row 2", "'end'", "at or before"],
    ),
    ("start without end", "t.csv", _csv("a.wav,dog,r1,1,0,\n"), ["row 1", "column 'end'", "no end"]),
    (
        "end without start",
        "t.csv",
        _csv("a.wav,dog,r1,1,0,1\nb.wav,dog,r1,1,,3\n"),
        ["row 2", "column 'start'", "no start"],
    ),
    (
        "tsv empty label",
        "t.tsv",
        lambda p: write(p, "filename\tcategory\tsrc\tfold\tstart\tend\na.wav\t\tr\t1\t\t\n"),
        ["row 1", "'category'", "empty label"],
    ),
]


@pytest.mark.parametrize(
    ("name", "maker", "fragments"), [c[1:] for c in BAD_TABLES], ids=[c[0] for c in BAD_TABLES]
)
def test_a_bad_table_fails_whole_naming_file_row_and_column(tmp_path, root, name, maker, fragments):
    outside = wav(tmp_path / "elsewhere" / "x.wav")
    (root / "escape.wav").symlink_to(outside)
    table = tmp_path / name
    if maker is not None:
        maker(table)
    with pytest.raises(DatasetTableError) as caught:
        read_dataset_table(table, COLS, root)
    message = str(caught.value)
    assert message.startswith(f"{table}:"), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_at_least_twenty_bad_tables():
    assert len(BAD_TABLES) >= 20


def test_a_missing_audio_root_is_named(tmp_path):
    table = write(tmp_path / "t.csv", "filename,category\na.wav,dog\n")
    with pytest.raises(DatasetTableError, match=r"audio_root .* is not a folder"):
        read_dataset_table(table, BASIC, tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"path": "", "label": "l"}, "dataset_columns.path"),
        ({"path": "p", "label": "  "}, "dataset_columns.label"),
        ({"path": "p", "label": "l", "start_s": "s"}, "dataset_columns.end_s is required"),
        ({"path": "p", "label": "l", "end_s": "e"}, "dataset_columns.start_s is required"),
        ({"path": "p", "label": "p"}, "dataset_columns.label and dataset_columns.path"),
        ({"path": "p", "label": "l", "colour": "c"}, "colour"),
    ],
)
def test_a_bad_column_mapping_names_the_field(fields, named):
    with pytest.raises(ValidationError, match=named):
        DatasetColumns(**fields)


# --- lineage hash --------------------------------------------------------------------------------


def test_rows_hash_by_label_changes_only_the_edited_label_and_ignores_row_order(tmp_path, root):
    body = ["a.wav,dog,r1,1", "b.wav,dog,r2,2", "c.wav,cat,r3,1", "sub/d.wav,bird,r4,3"]
    cols = DatasetColumns(path="filename", label="category", group="src", fold="fold")

    def hashes(lines: list[str], name: str) -> dict[str, str]:
        table = write(tmp_path / name, "filename,category,src,fold\n" + "\n".join(lines) + "\n")
        return rows_hash_by_label(read_dataset_table(table, cols, root).rows)

    base = hashes(body, "base.csv")
    assert sorted(base) == ["bird", "cat", "dog"] and len(set(base.values())) == 3
    assert hashes(body[::-1], "reversed.csv") == base
    edited = hashes([body[0], "b.wav,dog,r2,3", *body[2:]], "edited.csv")  # row 2's fold
    assert {k for k in base if edited[k] != base[k]} == {"dog"}
    relabelled = hashes([*body[:2], "c.wav,bird,r3,1", body[3]], "relabelled.csv")  # a row changes class
    assert set(relabelled) == {"dog", "bird"} and relabelled["dog"] == base["dog"]
    assert relabelled["bird"] != base["bird"]
    assert base == hashes(body, "base_again.csv")  # stable (no salted hash())


def test_the_rows_hash_is_pinned():
    rows = pl.DataFrame(
        {
            "row": [1, 2],
            "path": ["a.wav", "b.wav"],
            "label": ["dog", "cat"],
            "group": [None, "r"],
            "fold": [1, None],
            "start_s": [None, 0.5],
            "end_s": [None, 1.0],
            "meta": ["{}", '{"take":"A"}'],
        },
        schema=ROWS_SCHEMA,
    )
    assert rows_hash_by_label(rows) == {"cat": "9483833649ed6284", "dog": "2fb8ec6e1eb02127"}
