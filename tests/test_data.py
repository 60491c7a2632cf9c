"""Tests for lmprog.data: loading every format, validation messages, dropping, splits."""

from __future__ import annotations

import json
import os
from itertools import islice
from pathlib import Path

import pytest

from lmprog.data import Dataset, load_examples
from lmprog.errors import DataError, LmprogError
from lmprog.labels import LabelSpace


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


@pytest.fixture
def space() -> LabelSpace:
    return LabelSpace([
        {"name": "ham", "aliases": ["not spam", "legit"]},
        {"name": "spam", "aliases": ["junk"]},
    ])


# --------------------------------------------------------------------------- formats


def test_jsonl(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl([{"text": "hi", "label": "ham"}, {"text": "win", "label": "spam"}]))
    ds = load_examples(path)
    assert isinstance(ds, Dataset) and len(ds) == 2
    assert ds.input_fields == ["text"] and not ds.multi_label and ds.path == str(path)
    ex = ds[0]
    assert ex.text == "hi" and ex.label == "ham"
    assert set(ex.inputs().keys()) == {"text"} and set(ex.labels().keys()) == {"label"}
    assert [e.label for e in ds] == ["ham", "spam"]
    assert ds.label_counts() == {"ham": 1, "spam": 1}
    assert ds.dropped == []


def test_json_list(tmp_path):
    content = json.dumps([{"text": "a", "label": "ham"}, {"text": "b", "label": "spam"}], indent=2)
    ds = load_examples(write(tmp_path, "d.json", content))
    assert [(e.text, e.label) for e in ds] == [("a", "ham"), ("b", "spam")]


def test_json_line_numbers_point_at_each_object(tmp_path):
    content = '[\n  {"text": "a", "label": "ham"},\n  {"text": "", "label": "ham"}\n]\n'
    with pytest.raises(DataError) as info:
        load_examples(write(tmp_path, "d.json", content))
    assert info.value.problems == [(3, "empty text")]


def test_json_not_a_list(tmp_path):
    with pytest.raises(DataError, match=r"d\.json: malformed JSON on line 1 \(expected a list"):
        load_examples(write(tmp_path, "d.json", '{"text": "a"}'))


def test_csv_with_quotes_and_embedded_newline(tmp_path):
    content = 'text,label\n"hello, world",ham\n"two\nlines",spam\nplain,ham\n'
    ds = load_examples(write(tmp_path, "d.csv", content))
    assert [e.text for e in ds] == ["hello, world", "two\nlines", "plain"]
    bad = write(tmp_path, "bad.csv", 'text,label\n"two\nlines",spam\n,ham\n')
    with pytest.raises(DataError) as info:
        load_examples(bad)
    assert info.value.problems == [(4, "empty text")]  # the record after a two-line record starts on line 4


def test_tsv_keeps_quote_characters(tmp_path):
    content = 'label\ttext\nham\t"Happy day" I know\nspam\t"unbalanced quote\n'
    ds = load_examples(write(tmp_path, "d.tsv", content))
    assert [e.text for e in ds] == ['"Happy day" I know', '"unbalanced quote']


def test_unsupported_suffix(tmp_path):
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'"):
        load_examples(write(tmp_path, "d.xlsx", "x"))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_examples(tmp_path / "nope.csv")


def test_bom_crlf_and_blank_trailing_lines(tmp_path):
    csv_bytes = "\ufefftext,label\r\nhello,ham\r\nbye,spam\r\n\r\n\r\n".encode("utf-8")
    ds = load_examples(write(tmp_path, "d.csv", csv_bytes))
    assert [(e.text, e.label) for e in ds] == [("hello", "ham"), ("bye", "spam")]

    jsonl_bytes = ("\ufeff" + jsonl([{"text": "x", "label": "ham"}]).replace("\n", "\r\n") + "\r\n\n").encode()
    ds = load_examples(write(tmp_path, "d.jsonl", jsonl_bytes))
    assert [(e.text, e.label) for e in ds] == [("x", "ham")]

    tsv_bytes = "\ufefftext\tlabel\r\nhi there\tham\r\n\r\n".encode()
    ds = load_examples(write(tmp_path, "d.tsv", tsv_bytes))
    assert [(e.text, e.label) for e in ds] == [("hi there", "ham")]


def test_bom_is_stripped_even_with_plain_utf8_encoding(tmp_path):
    ds = load_examples(write(tmp_path, "d.csv", "\ufefftext,label\r\na,b\r\n".encode()), encoding="utf-8")
    assert ds[0].text == "a"


def test_multi_column_text(tmp_path):
    rows = [{"title": "Card", "body": "where is it", "label": "card"}, {"title": "", "body": "x", "label": "pin"}]
    ds = load_examples(write(tmp_path, "d.jsonl", jsonl(rows)), text=["title", "body"])
    assert ds.input_fields == ["title", "body"]
    assert set(ds[0].inputs().keys()) == {"title", "body"}
    assert ds[1].title == "" and ds[1].body == "x"  # one empty field is fine; all empty is not


def test_unlabelled_data(tmp_path):
    ds = load_examples(write(tmp_path, "d.csv", "text\nhello\nbye\n"), label=None)
    assert len(ds) == 2 and "label" not in ds[0] and not ds.has_labels
    assert ds.label_counts() == {}


def test_numbers_become_text_and_labels(tmp_path):
    ds = load_examples(write(tmp_path, "d.jsonl", jsonl([{"text": 42, "label": 1}])))
    assert ds[0].text == "42" and ds[0].label == "1"


# --------------------------------------------------------------------------- multi-label


def test_multi_label_jsonl_lists(tmp_path):
    rows = [{"text": "a", "labels": ["x", "y", "x"]}, {"text": "b", "labels": []}, {"text": "c", "labels": None}]
    ds = load_examples(write(tmp_path, "d.jsonl", jsonl(rows)), label="labels", multi_label=True)
    assert ds.multi_label and ds.label_field == "labels"
    assert ds.gold() == [["x", "y"], [], []]
    assert ds[0]["labels"] == ["x", "y"]
    assert set(ds[0].labels().keys()) == {"labels"}
    assert ds.label_counts() == {"x": 1, "y": 1}


def test_multi_label_missing_field_means_no_labels_unless_no_row_has_it(tmp_path):
    rows = [{"text": "a", "intents": ["x"]}, {"text": "b"}]
    ds = load_examples(write(tmp_path, "d.jsonl", jsonl(rows)), label="intents", multi_label=True)
    assert ds.gold() == [["x"], []]
    with pytest.raises(DataError, match=r"no row has the label field 'labels' \(fields: text, intents\)"):
        load_examples(write(tmp_path, "d.jsonl", jsonl(rows)), label="labels", multi_label=True)


def test_multi_label_csv_separator_and_json_cell(tmp_path):
    content = 'text,labels\na,x|y\nb," x | z "\nc,"[""y"", ""z""]"\nd,\n'
    ds = load_examples(write(tmp_path, "d.csv", content), label="labels", multi_label=True)
    assert ds.gold() == [["x", "y"], ["x", "z"], ["y", "z"], []]
    ds = load_examples(write(tmp_path, "d2.csv", "text,labels\na,x;y\n"), label="labels", multi_label=True,
                       label_separator=";")
    assert ds.gold() == [["x", "y"]]


def test_multi_label_string_in_jsonl_is_one_label_without_separator(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl([{"text": "a", "labels": "x|y"}]))
    assert load_examples(path, label="labels", multi_label=True).gold() == [["x|y"]]
    assert load_examples(path, label="labels", multi_label=True, label_separator="|").gold() == [["x", "y"]]


def test_single_label_list_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"line 1: label is a list \(pass multi_label=True"):
        load_examples(write(tmp_path, "d.jsonl", jsonl([{"text": "a", "label": ["x"]}])))


# --------------------------------------------------------------------------- label space


def test_label_resolution_by_case_whitespace_and_alias(tmp_path, space):
    content = "text,label\na,HAM\nb,  Spam \nc,not spam\nd,Junk\n"
    ds = load_examples(write(tmp_path, "d.csv", content), labels=space)
    assert ds.gold() == ["ham", "spam", "ham", "spam"]


def test_multi_label_resolution(tmp_path, space):
    path = write(tmp_path, "d.jsonl", jsonl([{"text": "a", "labels": ["JUNK", "legit", "spam"]}]))
    assert load_examples(path, label="labels", multi_label=True, labels=space).gold() == [["spam", "ham"]]


def test_unknown_label_is_an_error_and_not_fuzzy_matched(tmp_path, space):
    path = write(tmp_path, "data.jsonl", jsonl([{"text": "a", "label": "spam"}, {"text": "b", "label": "spma"}]))
    with pytest.raises(DataError) as info:
        load_examples(path, labels=space)
    assert str(info.value) == f"{path}: 1 row has a problem (line 2: label 'spma' not in the label space)"
    assert info.value.problems == [(2, "label 'spma' not in the label space")]
    assert info.value.path == str(path)


def test_label_space_from_file(tmp_path):
    labels_path = write(tmp_path, "labels.csv", "name,aliases\nham,ok|fine\nspam,junk\n")
    space = LabelSpace.from_file(labels_path, aliases="aliases")
    ds = load_examples(write(tmp_path, "d.csv", "text,label\na,OK\nb,junk\n"), labels=space)
    assert ds.gold() == ["ham", "spam"]


# --------------------------------------------------------------------------- validation


def test_missing_csv_column_names_the_columns_present(tmp_path):
    path = write(tmp_path, "d.csv", "body,category\na,b\n")
    with pytest.raises(DataError) as info:
        load_examples(path)
    assert str(info.value) == f"{path}: no columns 'text', 'label' in the header (columns: body, category)"
    assert isinstance(info.value, LmprogError)
    with pytest.raises(DataError, match=r"no column 'id' in the header \(columns: body, category\)"):
        load_examples(path, text="body", label="category", id="id")


def test_missing_jsonl_field_names_the_fields_present(tmp_path):
    path = write(tmp_path, "d.jsonl", jsonl([{"text": "a", "label": "x"}, {"body": "b", "label": "y"}]))
    with pytest.raises(DataError, match=r"line 2: no field 'text' \(fields: body, label\)"):
        load_examples(path)


def test_every_problem_is_collected_first_five_shown_with_count(tmp_path, space):
    lines = [
        '{"text": "ok", "label": "ham"}',     # 1 fine
        '{"text": "x", "label": "spma"}',     # 2 unknown label
        '{"text": "   ", "label": "ham"}',    # 3 empty text
        '{"text": "x", "label": "ham"',       # 4 malformed JSON
        '',                                   # 5 blank, skipped
        '{"text": "x"}',                      # 6 no label field
        '[1, 2]',                             # 7 not an object
        '{"text": "x", "label": ""}',         # 8 empty label
        '{"text": "", "label": "eggs"}',      # 9 two problems, one row
        '{"text": "fine", "label": "junk"}',  # 10 fine (alias)
    ]
    path = write(tmp_path, "data.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        load_examples(path, labels=space)
    message = str(info.value)
    assert message.startswith(f"{path}: 7 rows have problems (line 2: label 'spma' not in the label space; "
                              "line 3: empty text; line 4: malformed JSON (")
    assert "line 6: no field 'label' (fields: text); line 7: expected a JSON object, got list; and 2 more)" in message
    assert "line 8" not in message and "\n" not in message
    assert [line for line, _ in info.value.problems] == [2, 3, 4, 6, 7, 8, 9]
    assert info.value.problems[-1] == (9, "empty text, label 'eggs' not in the label space")


def test_csv_row_with_wrong_field_count(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,ham\nb,ham,extra\nc\n")
    with pytest.raises(DataError) as info:
        load_examples(path)
    assert info.value.problems == [(3, "3 fields where the header has 2"), (4, "1 fields where the header has 2")]


def test_csv_line_numbers_count_the_header(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,ham\n\n,ham\n")
    with pytest.raises(DataError, match=r"d\.csv: 1 row has a problem \(line 4: empty text\)$"):
        load_examples(path)


def test_duplicate_ids(tmp_path):
    rows = [{"id": "a", "text": "x", "label": "ham"}, {"id": "b", "text": "y", "label": "ham"},
            {"id": "a", "text": "z", "label": "spam"}, {"id": "", "text": "w", "label": "spam"}]
    path = write(tmp_path, "d.jsonl", jsonl(rows))
    with pytest.raises(DataError) as info:
        load_examples(path, id="id")
    assert info.value.problems == [(3, "duplicate id 'a' (first on line 1)"), (4, "empty id")]
    ds = load_examples(path, id="id", drop_invalid=True)
    assert [e.id for e in ds] == ["a", "b"] and len(ds.dropped) == 2
    assert set(ds[0].inputs().keys()) == {"text"}


def test_drop_invalid_records_what_was_dropped(tmp_path, space):
    content = "text,label\na,ham\n,spam\nc,eggs\nd,Junk\n"
    ds = load_examples(write(tmp_path, "d.csv", content), labels=space, drop_invalid=True)
    assert ds.gold() == ["ham", "spam"]
    assert ds.dropped == [(3, "empty text"), (4, "label 'eggs' not in the label space")]


def test_drop_invalid_with_nothing_left_is_an_error(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\n,ham\n,spam\n")
    with pytest.raises(DataError, match=r"d\.csv: all 2 rows have problems \(line 2: empty text; line 3: empty text\)"):
        load_examples(path, drop_invalid=True)


@pytest.mark.parametrize("name,content", [
    ("d.jsonl", ""), ("d.jsonl", "\n\n  \n"), ("d.csv", ""), ("d.csv", "text,label\n"),
    ("d.tsv", "text\tlabel\r\n\r\n"), ("d.json", "[]"), ("d.json", "  "),
])
def test_empty_file(tmp_path, name, content):
    path = write(tmp_path, name, content)
    with pytest.raises(DataError, match=r"has no rows$") as info:
        load_examples(path)
    assert str(path) in str(info.value)


def test_bad_utf8_names_file_offset_and_line(tmp_path):
    path = write(tmp_path, "d.csv", b"text,label\nok,ham\nbad \xff byte,spam\n")
    with pytest.raises(DataError) as info:
        load_examples(path)
    message = str(info.value)
    assert message.startswith(f"{path} is not valid utf-8-sig text: byte 0xff at byte offset 22 (line 3)")
    assert info.value.problems == [(3, "invalid byte at offset 22")]
    ds = load_examples(path, encoding="latin-1")
    assert ds[1].text == "bad \xff byte"


def test_input_field_clashing_with_label_field(tmp_path):
    from lmprog.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="clashes"):
        load_examples(write(tmp_path, "d.csv", "label\nx\n"), text="label")


# --------------------------------------------------------------------------- splits


def make_dataset(counts: dict[str, int]) -> Dataset:
    import dspy

    examples = [
        dspy.Example(text=f"{label} {i}", label=label).with_inputs("text")
        for label, n in counts.items() for i in range(n)
    ]
    return Dataset(examples, input_fields=["text"], path="mem.jsonl")


def texts(ds: Dataset) -> list[str]:
    return [e.text for e in ds]


def test_split_sizes_ints_and_fractions():
    ds = make_dataset({"a": 30, "b": 20, "c": 10})
    train, dev = ds.split(train=20, dev=10)
    assert (len(train), len(dev)) == (20, 10)
    train, dev, test = ds.split(train=0.5, dev=0.25, test=0.25)
    assert (len(train), len(dev), len(test)) == (30, 15, 15)
    assert not set(texts(train)) & set(texts(dev)) and not set(texts(dev)) & set(texts(test))
    assert not set(texts(train)) & set(texts(test))
    train, dev = ds.split(train=0.7, dev=0.3)  # fractions summing to 1 use every example
    assert len(train) + len(dev) == 60
    train, dev = make_dataset({"a": 7}).split(train=0.5, dev=0.5, stratify=False)
    assert (len(train), len(dev)) == (4, 3)


def test_split_is_deterministic_and_seeded():
    ds = make_dataset({"a": 30, "b": 20, "c": 10})
    first = [texts(part) for part in ds.split(train=20, dev=10, test=10, seed=3)]
    again = [texts(part) for part in ds.split(train=20, dev=10, test=10, seed=3)]
    other = [texts(part) for part in ds.split(train=20, dev=10, test=10, seed=4)]
    assert first == again
    assert first != other


def test_split_is_stratified():
    ds = make_dataset({"a": 40, "b": 20})
    train, dev = ds.split(train=30, dev=30)
    assert train.label_counts() == {"a": 20, "b": 10}
    assert dev.label_counts() == {"a": 20, "b": 10}
    assert train.input_fields == ["text"] and train.path == "mem.jsonl"


def test_split_keeps_every_class_in_train_when_possible():
    ds = make_dataset({"a": 50, "b": 2, "c": 1, "d": 1})  # c and d cannot be stratified
    for seed in range(10):
        train, dev = ds.split(train=5, dev=20, seed=seed)
        assert set(train.label_counts()) == {"a", "b", "c", "d"}, seed
        assert len(train) == 5 and len(dev) == 20
        assert not set(texts(train)) & set(texts(dev))
    train, dev = ds.split(train=2, dev=50, seed=0)  # train smaller than the class count: no promise
    assert len(train) == 2


def test_split_without_stratify_and_multi_label():
    import dspy

    ds = make_dataset({"a": 10, "b": 10})
    train, dev = ds.split(train=10, dev=10, stratify=False)
    assert len(train) == 10 and len(dev) == 10
    ml = Dataset([dspy.Example(text=str(i), labels=["x"]).with_inputs("text") for i in range(10)],
                 input_fields=["text"], multi_label=True)
    train, dev = ml.split(train=6, dev=4)
    assert train.multi_label and len(train) == 6 and train.label_counts() == {"x": 6}


def test_split_asking_for_too_many_examples():
    ds = make_dataset({"a": 5, "b": 5})
    with pytest.raises(DataError, match=r"the split needs 12 examples \(train 8 \+ dev 4\) but there are only 10"):
        ds.split(train=8, dev=4)
    with pytest.raises(DataError, match=r"needs 11 examples \(train 8 \+ dev 2 \+ test 1\)"):
        ds.split(train=8, dev=2, test=1)


def test_split_rejects_bad_sizes():
    from lmprog.errors import ConfigurationError

    ds = make_dataset({"a": 5})
    with pytest.raises(ConfigurationError):
        ds.split(train=1.5, dev=1)
    with pytest.raises(ConfigurationError):
        ds.split(train=-1, dev=1)


def test_slicing_returns_a_dataset():
    ds = make_dataset({"a": 5, "b": 5})
    part = ds[:3]
    assert isinstance(part, Dataset) and len(part) == 3 and part.input_fields == ["text"]


# --------------------------------------------------------------------------- real data


def shared_data() -> Path:
    env = os.environ.get("LMPROG_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def test_sms_spam_subset(tmp_path):
    source = shared_data() / "sms_spam" / "SMSSpamCollection.tsv"
    if not source.exists():
        pytest.skip(f"{source} not found (set LMPROG_DATA)")
    with source.open(encoding="utf-8", newline="") as handle:
        head = "".join(islice(handle, 201))  # header + 200 rows
    path = write(tmp_path, "sms.tsv", head)
    space = LabelSpace(["ham", "spam"])
    ds = load_examples(path, text="SMS", label="Label", labels=space)
    assert len(ds) == 200
    assert set(ds.label_counts()) == {"ham", "spam"}
    assert ds[0].SMS.startswith("Go until jurong point")
    train, dev, test = ds.split(train=100, dev=50, test=50, seed=0)
    assert (len(train), len(dev), len(test)) == (100, 50, 50)
    assert all(part.label_counts()["spam"] > 0 for part in (train, dev, test))
