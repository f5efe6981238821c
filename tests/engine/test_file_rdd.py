"""textFile, wholeTextFiles, binaryFiles, binaryRecords: local files read by the tasks,
cut into splits as Hadoop cuts them, text as Arrow tables."""

from __future__ import annotations

import operator
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastdstream import DecodeError
from fastdstream.engine.file_rdd import FileSplit, _read_lines, list_files, text_splits


@pytest.fixture(scope="module")
def sc(module_sc):
    return module_sc


def _write(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.text(alphabet="ab\r", max_size=7), max_size=30),
       trailing=st.booleans(), parts=st.integers(1, 9))
def test_splits_own_every_line_once(tmp_path_factory, lines, trailing, parts) -> None:
    data = "\n".join(lines) + ("\n" if trailing and lines else "")
    path = _write(tmp_path_factory.mktemp("t") / "f.txt", data.encode())
    splits = text_splits([path], parts)
    read = [line for s in splits for line in _read_lines(s)]
    expected = [line.removesuffix("\r") for line in data.encode().decode().split("\n")]
    if data.endswith("\n") or not data:
        expected = expected[:-1]
    assert [x.decode() for x in read] == expected


def test_text_file_word_count_stays_columnar(sc, tmp_path) -> None:
    path = _write(tmp_path / "words.txt", b"a b\nb c c\r\n\nd\n")
    lines = sc.textFile(path, 3)
    assert lines.collect() == ["a b", "b c c", "", "d"]
    assert "textFile: Arrow tables" in lines.explain()
    counts = lines.flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(operator.add)
    assert sorted(counts.collect()) == [("a", 1), ("b", 2), ("c", 2), ("d", 1)]
    assert sc.textFile(path, use_unicode=False).first() == b"a b"


def test_text_file_paths_directories_globs(sc, tmp_path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "1.txt", b"one\n")
    _write(folder / "2.txt", b"two\n")
    _write(folder / ".hidden", b"no\n")
    _write(folder / "_SUCCESS", b"")
    assert sc.textFile(str(folder)).collect() == ["one", "two"]
    assert sc.textFile(f"{folder}/1.txt,file://{folder}/2.txt").collect() == ["one", "two"]
    assert sc.textFile(str(folder / "*.txt")).count() == 2
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sc.textFile(str(tmp_path / "missing"))
    assert list_files(str(folder)) == [str(folder / "1.txt"), str(folder / "2.txt")]


def test_text_file_names_the_file_of_bad_utf8(sc, tmp_path) -> None:
    path = _write(tmp_path / "bad.txt", b"ok\n\xff\n")
    with pytest.raises(DecodeError, match=r"bad\.txt"):
        sc.textFile(path).collect()


def test_whole_text_files_binary_files_and_records(sc, tmp_path) -> None:
    _write(tmp_path / "a.txt", b"alpha")
    _write(tmp_path / "b.txt", b"beta\n")
    whole = sc.wholeTextFiles(str(tmp_path))
    assert whole.collect() == [(f"file:{tmp_path}/a.txt", "alpha"),
                               (f"file:{tmp_path}/b.txt", "beta\n")]
    assert dict(sc.binaryFiles(str(tmp_path)).collect())[f"file:{tmp_path}/a.txt"] == b"alpha"
    records = tmp_path / "rec"
    records.mkdir()
    _write(records / "r.bin", b"abcdef")
    assert sc.binaryRecords(str(records), 2).collect() == [b"ab", b"cd", b"ef"]
    with pytest.raises(Exception, match="not a multiple"):
        sc.binaryRecords(str(records), 4).collect()


def test_splits_follow_hadoop_sizes(tmp_path) -> None:
    path = _write(tmp_path / "f", b"x" * 1000)
    splits = text_splits([path], 4)
    assert [s.length for s in splits] == [250, 250, 250, 250]
    assert text_splits([path], 3)[-1] == FileSplit(path, 666, 334)  # within the 10 % slop
    empty = _write(tmp_path / "e", b"")
    assert text_splits([empty], 2) == [FileSplit(empty, 0, 0)]
    assert os.path.getsize(path) == 1000
