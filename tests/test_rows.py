"""The one row reader (lmprog.data.rows): streaming, line numbers, whole-file errors, reader options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lmprog.data.rows as rows_module
from lmprog.data import SUFFIXES, FileReadError, Row, iter_lines, iter_rows, load_examples, read_rows
from lmprog.errors import ConfigurationError, DataError


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_rows_carry_line_record_and_problem(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "a"}\n\n{"text": \n[1]\n')
    assert read_rows(path) == [Row(1, {"text": "a"}, None),
                               Row(3, None, "malformed JSON (Expecting value at column 10)"),
                               Row(4, None, "expected a JSON object, got list")]
    line, record, problem = read_rows(path)[0]  # a row unpacks as (line, record, problem)
    assert (line, record, problem) == (1, {"text": "a"}, None)


def test_a_csv_row_of_the_wrong_length_keeps_its_fields(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na\nb,ham,extra\n")
    assert read_rows(path) == [Row(2, {"text": "a"}, "1 fields where the header has 2"),
                               Row(3, {"text": "b", "label": "ham"}, "3 fields where the header has 2")]


def test_iter_rows_streams_without_reading_the_whole_file(tmp_path):
    body = "".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(100_000))
    path = write(tmp_path, "big.jsonl", body.encode() + b'{"text": "bad \xff byte"}\n')
    rows = iter_rows(path)
    assert next(rows) == Row(1, {"text": "row 0"}, None)  # the bad byte 3 MB further on is not read yet
    with pytest.raises(FileReadError, match=r"byte 0xff at byte offset \d+ \(line 100001\)") as info:
        list(rows)
    assert info.value.kind == "encoding" and info.value.line == 100_001
    with pytest.raises(FileReadError, match=r"line 100001"):
        read_rows(path)  # the whole file is decoded before the first row


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_streamed_rows_equal_whole_file_rows_at_any_chunk_size(tmp_path, monkeypatch, chunk):
    files = {
        "d.csv": '\ufefftext,label\r\n"two\r\nlines",spam\r\ncafé ☕,ham\r\n\r\nlast,ham',
        "mac.csv": "text,label\rold,ham\rmac,spam\r",
        "d.tsv": 'text\tlabel\n"quoted" é\tham\n',
        "d.jsonl": '{"text": "é☕"}\r\n\n{"text": "x"}',
        "d.json": '[\n {"text": "a"},\n {"text": "☕"}\n]\n',
    }
    for name, content in files.items():
        path = write(tmp_path, name, content)
        whole = read_rows(path)
        monkeypatch.setattr(rows_module, "_CHUNK", chunk)
        assert list(iter_rows(path)) == whole, name
        monkeypatch.undo()
    assert [r.line for r in read_rows(tmp_path / "mac.csv")] == [2, 3]  # a lone \r ends a CSV line


def test_an_undecodable_byte_after_a_byte_order_mark_is_named_at_its_real_offset(tmp_path):
    path = write(tmp_path, "d.jsonl", b'\xef\xbb\xbf{"text": "a"}\n{"text": "\xff"}\n')
    with pytest.raises(FileReadError) as info:
        read_rows(path)
    assert str(info.value).startswith(f"{path} is not valid utf-8-sig text: byte 0xff at byte offset 27 (line 2)")
    assert (info.value.offset, info.value.problems) == (27, [(2, "invalid byte at offset 27")])


def test_whole_file_errors_have_a_kind(tmp_path):
    cases = {
        "missing": (tmp_path / "nope.csv", "does not exist"),
        "format": (write(tmp_path, "d.xlsx", "x"), r"unsupported file type '\.xlsx'"),
        "syntax": (write(tmp_path, "d.json", '[{"text": "a"} {"text": "b"}]'), r"malformed JSON on line 1 \(expected"),
        "shape": (write(tmp_path, "e.json", '{"text": "a"}'), "expected a list of objects"),
    }
    for kind, (path, message) in cases.items():
        with pytest.raises(FileReadError, match=message) as info:
            read_rows(path)
        assert info.value.kind == kind and isinstance(info.value, DataError)
    with pytest.raises(FileReadError, match=r"malformed CSV on line 2 \(field larger than field limit") as info:
        read_rows(write(tmp_path, "big.csv", "text\n" + "x" * 200_000 + "\n"))
    assert (info.value.kind, info.value.line) == ("syntax", 2)
    with pytest.raises(FileReadError, match=r"malformed JSON on line 2 \(extra data after the list\)"):
        read_rows(write(tmp_path, "empty.json", "[]\n x"))  # an empty list is no excuse for trailing data
    with pytest.raises(ConfigurationError, match="unknown text encoding 'rot13'"):
        read_rows(write(tmp_path, "d.csv", "text\na\n"), encoding="rot13")


def test_options_for_label_files(tmp_path):
    path = write(tmp_path, "l.jsonl", '"spam"\n{"name": "ham"}\n')
    assert [r.record for r in read_rows(path, objects=False)] == ["spam", {"name": "ham"}]
    wrapped = write(tmp_path, "l.json", '{"labels": ["spam", "ham"]}')
    assert read_rows(wrapped, objects=False, json_key="labels") == [Row(0, "spam", None), Row(0, "ham", None)]
    with pytest.raises(FileReadError) as info:
        read_rows(write(tmp_path, "bad.jsonl", '"spam"\n{"name": \n'), objects=False, errors="raise")
    assert (info.value.kind, info.value.line, info.value.detail) == ("syntax", 2, "Expecting value at column 10")
    tsv = write(tmp_path, "l.tsv", 'name\tdescription\nspam\t"two\nlines"\n')
    assert [r.record for r in read_rows(tsv, quoted_tsv=True)] == [{"name": "spam", "description": "two\nlines"}]
    assert len(read_rows(tsv)) == 2  # data TSV has no quoting: the quote is text, the line break ends the row
    seen = []
    assert len(read_rows(write(tmp_path, "l.csv", "\n name ,x\nspam,1\n"), on_header=seen.append)) == 1
    assert seen == [["name", "x"]]


def test_iter_lines_splits_on_every_line_break(tmp_path):
    path = write(tmp_path, "l.txt", b"\xef\xbb\xbfa\r\nb\rc\n\nd")
    assert list(iter_lines(path)) == [(1, "a"), (2, "b"), (3, "c"), (4, ""), (5, "d")]


def test_suffixes():
    assert SUFFIXES == (".jsonl", ".json", ".csv", ".tsv", ".parquet")


def test_load_examples_reads_input_fields_from_other_columns(tmp_path):
    path = write(tmp_path, "d.csv", "SMS,Label\nhello,ham\n,spam\n")
    ds = load_examples(path, text={"text": "SMS"}, label="Label", drop_invalid=True)
    assert ds.input_fields == ["text"] and ds[0].text == "hello" and set(ds[0].inputs().keys()) == {"text"}
    assert "SMS" not in ds[0] and ds.dropped == [(3, "empty text")]
    with pytest.raises(DataError, match=r"no column 'body' in the header \(columns: SMS, Label\)"):
        load_examples(path, text={"text": "body"}, label="Label")
