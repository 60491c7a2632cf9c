"""The label space: loading from files, identity (hash), and mapping LM answers to labels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lmprog.errors import DataError, LmprogError
from lmprog.labels import Label, LabelSpace, ParsedLabels

COMMA_NAME = "sales, marketing and advertising"

SPACE = LabelSpace([
    {"name": "spam", "aliases": ["junk mail"]},
    "ham",
    {"name": "card_arrival", "description": "The card has not arrived."},
    {"name": "billing issue", "aliases": ["invoice problem", "payment problem"]},
    {"name": "refund request", "aliases": ["payment problem"]},  # "payment problem" is ambiguous
    COMMA_NAME,
    "sales",
    "C++",
    "C#",
    "data analysis",
    "data analytics",
    "responsive",
    "Java (computer programming)",
    "R",
])

# (answer, multi, expected labels, expected unparsed)
PARSE_CASES = [
    # single label: formatting noise around one name
    ("spam", False, ["spam"], []),
    ("SPAM", False, ["spam"], []),
    ("  spam \n", False, ["spam"], []),
    ('"spam"', False, ["spam"], []),
    ("'ham'", False, ["ham"], []),
    ("`spam`", False, ["spam"], []),
    ("spam.", False, ["spam"], []),
    ("Spam!", False, ["spam"], []),
    ("**spam**", False, ["spam"], []),
    ("Label: spam", False, ["spam"], []),
    ("Answer: ham", False, ["ham"], []),
    ("**Label:** ham", False, ["ham"], []),
    ("The answer is spam.", False, ["spam"], []),
    ("[[ ## label ## ]]\nham\n\n[[ ## completed ## ]]", False, ["ham"], []),
    ("Reasoning: it offers a prize.\nLabel: spam", False, ["spam"], ["Reasoning: it offers a prize."]),
    # aliases, underscores and dashes
    ("junk mail", False, ["spam"], []),
    ("Junk  Mail!", False, ["spam"], []),
    ("invoice problem", False, ["billing issue"], []),
    ("card arrival", False, ["card_arrival"], []),
    ("Card-Arrival", False, ["card_arrival"], []),
    ("c++", False, ["C++"], []),
    ("c#", False, ["C#"], []),
    # close fuzzy matches, and what must stay unparsed
    ("spma", False, ["spam"], []),
    ("hamm", False, ["ham"], []),
    ("data analysys", False, ["data analysis"], []),
    ("data analytis", False, [], ["data analytis"]),  # one edit from both analysis and analytics
    ("responsiv", False, ["responsive"], []),
    ("unresponsive", False, [], ["unresponsive"]),  # a negation is not a typo
    ("eggs", False, [], ["eggs"]),
    ("not spam", False, [], ["not spam"]),
    ("spam or ham", False, [], ["spam or ham"]),
    ("payment problem", False, [], ["payment problem"]),  # alias of two labels
    ("c", False, [], ["c"]),
    ("", False, [], []),
    # a name that contains commas is matched whole before splitting
    (COMMA_NAME, False, [COMMA_NAME], []),
    ("Sales, Marketing and Advertising.", False, [COMMA_NAME], []),
    ("sales, marketing and advertisin", False, [COMMA_NAME], []),
    (f"{COMMA_NAME}, C++", True, [COMMA_NAME, "C++"], []),
    ("sales, C#", True, ["sales", "C#"], []),
    ("Java (computer programming), R", True, ["Java (computer programming)", "R"], []),
    ("java (computer programing), r", True, ["Java (computer programming)", "R"], []),
    # single label from a multi-label answer: first match wins, the rest is ignored
    ("spam, ham", False, ["spam"], []),
    ("eggs, ham", False, ["ham"], ["eggs"]),
    ("1. ham\n2. spam", False, ["ham"], []),
    # multi-label separators and list styles
    ("spam, ham", True, ["spam", "ham"], []),
    ("spam; ham", True, ["spam", "ham"], []),
    ("Spam, Ham.", True, ["spam", "ham"], []),
    ("spam\nham", True, ["spam", "ham"], []),
    ("1. spam\n2. ham", True, ["spam", "ham"], []),
    ("1) ham\n2) spam", True, ["ham", "spam"], []),
    ("- spam\n- card arrival", True, ["spam", "card_arrival"], []),
    ("* ham\n* spam", True, ["ham", "spam"], []),
    ("• ham\n• junk mail", True, ["ham", "spam"], []),
    ("Labels: billing issue, invoice problem", True, ["billing issue"], []),
    ("spam, spam, SPAM", True, ["spam"], []),
    ("spam, eggs, ham", True, ["spam", "ham"], ["eggs"]),
    ("spam, maybe ham", True, ["spam"], ["maybe ham"]),
    ("eggs; bacon", True, [], ["eggs", "bacon"]),
    # JSON answers
    ('{"label": "spam"}', False, ["spam"], []),
    ('{"label": "ham", "confidence": 0.9}', False, ["ham"], []),
    ('{"answer": "eggs"}', False, [], ["eggs"]),
    ('["spam", "ham"]', True, ["spam", "ham"], []),
    ('{"labels": ["ham", "spam"]}', True, ["ham", "spam"], []),
    ('[{"label": "spam"}, {"label": "C#"}]', True, ["spam", "C#"], []),
    ('```json\n{"labels": ["spam", "eggs"]}\n```', True, ["spam"], ["eggs"]),
    ("['spam', 'ham']", True, ["spam", "ham"], []),
]


@pytest.mark.parametrize(("answer", "multi", "labels", "unparsed"), PARSE_CASES,
                         ids=[f"{i}-{c[0][:30]!r}-{'multi' if c[1] else 'single'}" for i, c in enumerate(PARSE_CASES)])
def test_parse(answer, multi, labels, unparsed):
    parsed = SPACE.parse(answer, multi=multi)
    assert isinstance(parsed, ParsedLabels)
    assert parsed.labels == labels
    assert parsed.unparsed == unparsed
    assert parsed.label == (labels[0] if labels else None)
    assert all(name in SPACE for name in parsed.labels)


def test_parse_without_fuzzy_leaves_typos_unparsed():
    assert SPACE.parse("spma", fuzzy=False) == ParsedLabels([], ["spma"])
    assert SPACE.parse("spam", fuzzy=False).label == "spam"


def test_resolve_one_candidate():
    assert SPACE.resolve("Spam") == SPACE["spam"]
    assert SPACE.resolve("junk mail").name == "spam"
    assert SPACE.resolve("spma").name == "spam"
    assert SPACE.resolve("payment problem") is None
    assert SPACE.resolve("eggs") is None
    assert SPACE.resolve("   ") is None


def test_container_protocol():
    space = LabelSpace(["b", Label(id=7, name="a", description="first letter"), {"name": " c ", "aliases": "x|y"}])
    assert space.names == ["b", "a", "c"]
    assert [label.id for label in space] == [0, 1, 2]  # ids are positions, whatever a Label said
    assert len(space) == 3
    assert "a" in space and "A" not in space and 0 not in space
    assert space[1] == Label(id=1, name="a", description="first letter")
    assert space["c"].aliases == ("x", "y")
    assert space.index("c") == 2
    with pytest.raises(KeyError):
        space["A"]
    with pytest.raises(KeyError):
        space[3]
    with pytest.raises(KeyError):
        space[-1]
    with pytest.raises(KeyError):
        space.index("nope")
    assert space.labels == tuple(space)


def test_describe():
    space = LabelSpace([{"name": "spam", "description": "Unwanted ads."}, "ham", "other"])
    assert space.describe() == "- spam: Unwanted ads.\n- ham\n- other"
    assert space.describe(limit=1) == "- spam: Unwanted ads.\n- ... (2 more labels not shown)"


@pytest.mark.parametrize("labels", [["spam", "ham", "spam"], ["spam", " spam "]])
def test_duplicate_names_are_rejected(labels):
    with pytest.raises(DataError, match=r"label 2|label 3") as info:
        LabelSpace(labels)
    assert "duplicate label name 'spam'" in str(info.value)


@pytest.mark.parametrize("labels", [["spam", "  "], ["spam", {"name": ""}], []])
def test_empty_names_and_empty_spaces_are_rejected(labels):
    with pytest.raises(DataError):
        LabelSpace(labels)


def test_data_error_is_an_lmprog_error():
    assert issubclass(DataError, LmprogError)


# ------------------------------------------------------------------------------------------ files


def write(path: Path, text: str, *, bom: bool = False, crlf: bool = False) -> Path:
    if crlf:
        text = text.replace("\n", "\r\n")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


EXPECTED = [Label(0, "spam", "Unwanted ads.", ("junk", "promo")), Label(1, "ham", None, ()),
            Label(2, "café", "Ünïcode ok", ())]


@pytest.mark.parametrize(("bom", "crlf"), [(False, False), (True, True)])
def test_load_csv(tmp_path, bom, crlf):
    path = write(tmp_path / "labels.csv",
                 'name,description,aliases\nspam,Unwanted ads.,junk|promo\n\nham,,\ncafé,Ünïcode ok,\n',
                 bom=bom, crlf=crlf)
    space = LabelSpace.from_file(path)
    assert space.labels == tuple(EXPECTED)
    assert space.source == str(path)


def test_load_tsv_with_chosen_columns(tmp_path):
    path = write(tmp_path / "labels.tsv",
                 "id\tpreferred\talt\tabout\n1\tspam\tjunk ; promo\tUnwanted ads.\n2\tham\t\t\n3\tcafé\t\tÜnïcode ok\n",
                 bom=True, crlf=True)
    space = LabelSpace.from_file(path, name="preferred", description="about", aliases="alt",
                                 alias_separator=" ; ")
    assert space.labels == tuple(EXPECTED)


def test_csv_description_column_is_optional_and_can_be_ignored(tmp_path):
    path = write(tmp_path / "labels.csv", "label,notes\nspam,x\nham,y\n")
    space = LabelSpace.from_file(path, name="label")
    assert space.names == ["spam", "ham"]
    assert space["spam"].description is None


def test_load_txt(tmp_path):
    path = write(tmp_path / "labels.txt", "spam\n\n  ham  \ncafé\n", bom=True, crlf=True)
    assert LabelSpace.from_file(path).names == ["spam", "ham", "café"]


@pytest.mark.parametrize("shape", ["strings", "objects", "wrapped"])
def test_load_json(tmp_path, shape):
    objects = [{"name": "spam", "description": "Unwanted ads.", "aliases": ["junk", "promo"]},
               {"name": "ham"}, {"name": "café", "description": "Ünïcode ok"}]
    data = {"strings": ["spam", "ham", "café"], "objects": objects, "wrapped": {"labels": objects}}[shape]
    path = write(tmp_path / "labels.json", json.dumps(data, ensure_ascii=False, indent=1), bom=True, crlf=True)
    space = LabelSpace.from_file(path)
    if shape == "strings":
        assert space.names == ["spam", "ham", "café"]
    else:
        assert space.labels == tuple(EXPECTED)


def test_load_jsonl_with_chosen_fields(tmp_path):
    lines = ['{"skill": "spam", "text": "Unwanted ads.", "alt": "junk|promo"}', '"ham"', "",
             '{"skill": "café", "text": "Ünïcode ok"}']
    path = write(tmp_path / "labels.jsonl", "\n".join(lines) + "\n", bom=True, crlf=True)
    space = LabelSpace.from_file(path, name="skill", description="text", aliases="alt")
    assert space.labels == tuple(EXPECTED)


def test_csv_line_numbers_count_quoted_newlines(tmp_path):
    path = write(tmp_path / "labels.csv", 'name,description\nspam,"two\nlines"\nham,x\n,empty\n')
    with pytest.raises(DataError, match=r"^labels\.csv:5: empty label name$"):
        LabelSpace.from_file(path)


def test_missing_column_names_the_file_and_the_columns(tmp_path):
    path = write(tmp_path / "labels.csv", "name,description\nspam,x\n")
    with pytest.raises(DataError) as info:
        LabelSpace.from_file(path, name="label")
    message = str(info.value)
    assert message.startswith("labels.csv:") and "'label'" in message and "name, description" in message
    with pytest.raises(DataError, match=r"labels\.csv: .*'aliases'.*columns present: name, description"):
        LabelSpace.from_file(path, aliases="aliases")


def test_missing_json_field_names_the_file_and_the_fields(tmp_path):
    path = write(tmp_path / "labels.jsonl", '{"label": "spam"}\n{"label": "ham"}\n')
    with pytest.raises(DataError, match=r"^labels\.jsonl:1: label has no 'name' field \(fields: label\)$"):
        LabelSpace.from_file(path)
    with pytest.raises(DataError, match=r"labels\.jsonl: no field 'desc'.*fields present: label"):
        LabelSpace.from_file(path, name="label", description="desc")


@pytest.mark.parametrize(("filename", "content", "message"), [
    ("labels.txt", "spam\nham\n\nspam\n", r"^labels\.txt:4: duplicate label name 'spam' \(first at labels\.txt:1\)$"),
    ("labels.csv", "name\nspam\nham\n spam\n", r"^labels\.csv:4: duplicate label name 'spam' \(first at labels\.csv:2\)$"),
    ("labels.csv", "name,x\nspam,1\n  ,2\n", r"^labels\.csv:3: empty label name$"),
    ("labels.tsv", "name\tx\nspam\n", None),  # a short row is fine when it has the name
    ("labels.jsonl", '"spam"\n{"name": ""}\n', r"^labels\.jsonl:2: empty label name$"),
    ("labels.jsonl", '"spam"\n{"name": "ham"\n', r"^labels\.jsonl:2: not valid JSON"),
    ("labels.json", '["spam", "ham", "spam"]', r"^labels\.json: label 3: duplicate label name 'spam'"),
    ("labels.json", '["spam",\n  ]', r"^labels\.json:2: not valid JSON"),
    ("labels.json", '{"names": []}', r"labels\.json: expected a list of labels"),
    ("labels.txt", "\n\n", r"has no labels"),
    ("labels.csv", "", r"^labels\.csv: the file is empty"),
    ("labels.yaml", "- spam\n", r"^labels\.yaml: unknown label file type '\.yaml'"),
])
def test_file_errors_name_file_and_line(tmp_path, filename, content, message):
    path = write(tmp_path / filename, content)
    if message is None:
        assert LabelSpace.from_file(path).names == ["spam"]
        return
    with pytest.raises(DataError, match=message):
        LabelSpace.from_file(path)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        LabelSpace.from_file(tmp_path / "nope.txt")
    path = tmp_path / "latin.txt"
    path.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"^latin\.txt: not UTF-8"):
        LabelSpace.from_file(path)


def test_label_files_go_through_the_row_reader(tmp_path, monkeypatch):
    import lmprog.labels.files as files

    calls = []
    real = files.read_rows
    monkeypatch.setattr(files, "read_rows", lambda path, **options: calls.append(path.suffix) or real(path, **options))
    for name, content in [("l.csv", "name\nspam\n"), ("l.tsv", "name\nspam\n"), ("l.json", '["spam"]'),
                          ("l.jsonl", '"spam"\n')]:
        assert LabelSpace.from_file(write(tmp_path / name, content)).names == ["spam"]
    assert calls == [".csv", ".tsv", ".json", ".jsonl"]


def test_label_file_reading_details(tmp_path):
    # A TSV label file may quote a cell (spreadsheets do), so a description can hold a line break.
    path = write(tmp_path / "l.tsv", 'name\tdescription\nspam\t"two\nlines"\nham\t\n')
    assert LabelSpace.from_file(path).labels == (Label(0, "spam", "two\nlines"), Label(1, "ham"))
    # The header is the first non-blank row.
    assert LabelSpace.from_file(write(tmp_path / "l.csv", "\n\nname\nspam\n")).names == ["spam"]
    with pytest.raises(DataError, match=r"^l\.jsonl:2: not valid JSON \(Expecting value at column 10\)$"):
        LabelSpace.from_file(write(tmp_path / "l.jsonl", '"spam"\n{"name": \n'))
    with pytest.raises(DataError, match=r"^l\.json:1: not valid JSON \(extra data after the list\)$"):
        LabelSpace.from_file(write(tmp_path / "l.json", '["spam"] x'))
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbfham\n\xff")  # the offset counts the byte order mark
    with pytest.raises(DataError, match=r"^bom\.txt: not UTF-8 text \(byte 7\); save it as UTF-8$"):
        LabelSpace.from_file(bom)


# ------------------------------------------------------------------------------- hash and dicts


BASE = [{"name": "spam", "description": "ads", "aliases": ["junk"]}, {"name": "ham"}]


def test_hash_is_stable_for_equal_content(tmp_path):
    space = LabelSpace(BASE)
    assert len(space.hash) == 64 and int(space.hash, 16) >= 0
    assert space.hash == LabelSpace(json.loads(json.dumps(BASE))).hash
    csv_path = write(tmp_path / "l.csv", "name,description,aliases\nspam,ads,junk\nham,,\n", bom=True, crlf=True)
    assert LabelSpace.from_file(csv_path).hash == space.hash  # source does not enter the hash
    assert LabelSpace(BASE, source="elsewhere").hash == space.hash


@pytest.mark.parametrize("changed", [
    [{"name": "Spam", "description": "ads", "aliases": ["junk"]}, {"name": "ham"}],
    [{"name": "spam", "description": "ads.", "aliases": ["junk"]}, {"name": "ham"}],
    [{"name": "spam", "aliases": ["junk"]}, {"name": "ham"}],
    [{"name": "spam", "description": "ads", "aliases": ["junk", "promo"]}, {"name": "ham"}],
    [{"name": "spam", "description": "ads", "aliases": ["Junk"]}, {"name": "ham"}],
    [{"name": "spam", "description": "ads"}, {"name": "ham", "aliases": ["junk"]}],
    [{"name": "ham"}, {"name": "spam", "description": "ads", "aliases": ["junk"]}],
    [{"name": "spam", "description": "ads", "aliases": ["junk"]}, {"name": "ham"}, {"name": "eggs"}],
])
def test_any_change_changes_the_hash(changed):
    assert LabelSpace(changed).hash != LabelSpace(BASE).hash


def test_alias_order_matters_for_the_hash():
    a = LabelSpace([{"name": "spam", "aliases": ["junk", "promo"]}])
    b = LabelSpace([{"name": "spam", "aliases": ["promo", "junk"]}])
    assert a.hash != b.hash


def test_to_dict_round_trips_exactly():
    space = LabelSpace([*BASE, {"name": "café", "description": "Ünïcode"}], source="labels.csv")
    data = space.to_dict()
    again = LabelSpace.from_dict(json.loads(json.dumps(data)))
    assert again == space
    assert again.labels == space.labels
    assert again.hash == space.hash == data["hash"]
    assert again.source == "labels.csv"
    assert again.to_dict() == data


def test_from_dict_rejects_a_tampered_hash():
    data = LabelSpace(BASE).to_dict()
    data["labels"][0]["name"] = "eggs"
    with pytest.raises(DataError, match="does not match"):
        LabelSpace.from_dict(data)
    with pytest.raises(DataError):
        LabelSpace.from_dict({"names": ["spam"]})


# ------------------------------------------------------------------------------------------ ESCO


@pytest.fixture(scope="module")
def esco() -> LabelSpace:
    root = Path(os.environ["LMPROG_DATA"]) if os.environ.get("LMPROG_DATA") else \
        Path(__file__).resolve().parents[2] / "shared" / "data"
    path = root / "esco_skills_v1.1.0" / "esco_skills_v1.1.0_en.csv"
    if not path.exists():
        pytest.skip(f"ESCO data not found at {path}; set LMPROG_DATA")
    return LabelSpace.from_file(path, name="preferredLabel", description="description",
                                aliases="altLabels", alias_separator=" | ")


def test_esco_loads(esco):
    assert len(esco) == 13_891
    label = esco["manage musical staff"]
    assert label.description.startswith("Assign and manage staff tasks")
    assert "manage music staff" in label.aliases
    assert "manage musical staff" not in label.aliases  # the name itself is not kept as an alias
    assert "C++" in esco and "C#" in esco


def test_esco_aliases_resolve(esco):
    label = esco["manage musical staff"]
    for alias in label.aliases:
        assert esco.resolve(alias) == label
    assert esco.resolve("Manage Music Staff.") == label
    assert esco.resolve("manage musical staf") == label


def test_esco_parse_answer_list(esco):
    answer = ("1. manage musical staff\n"
              "2. maxillo-facial, oral, and dental surgery\n"
              "3. **C++**\n"
              "4. postgresql\n"
              "5. supervise corectional procedures\n"
              "6. juggling with flaming torches underwater")
    parsed = esco.parse(answer, multi=True)
    assert parsed.labels == ["manage musical staff", "maxillo-facial, oral, and dental surgery", "C++",
                             "PostgreSQL", "supervise correctional procedures"]
    assert parsed.unparsed == ["juggling with flaming torches underwater"]
    inline = esco.parse("PostgreSQL, make health, safety and environment assessments, C#", multi=True)
    assert inline.labels == ["PostgreSQL", "make health, safety and environment assessments", "C#"]
    assert esco.parse(json.dumps({"labels": ["PostgreSQL", "C#"]}), multi=True).labels == ["PostgreSQL", "C#"]


def test_esco_round_trip_keeps_hash(esco):
    assert LabelSpace.from_dict(esco.to_dict()).hash == esco.hash
