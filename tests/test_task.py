"""Task declaration in Python and as a TOML task file."""

from __future__ import annotations

import re
from typing import Literal

import dspy
import pytest

from lmprog.errors import ConfigurationError, DataError
from lmprog.task import DataSpec, Task


def test_signature_states_the_labels_once_with_descriptions(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("name,description\nham,an ordinary message\nspam,unsolicited advertising\n")
    task = Task(inputs={"text": "the SMS"}, labels=labels, instructions="Is it spam?", name="sms spam")
    sig = task.signature()
    assert list(sig.input_fields) == ["text"] and list(sig.output_fields) == ["label"]
    assert "- spam: unsolicited advertising" in sig.instructions and sig.instructions.startswith("Is it spam?")
    assert sig.__name__ == "SmsSpam"
    assert task.metric == "accuracy"


def test_multilabel_output_and_default_metric():
    task = Task(inputs=["title", "body"], labels=["a", "b"], multi_label=True)
    assert list(task.signature().output_fields) == ["labels"] and task.metric == "micro_f1"
    assert task.input_fields == ["title", "body"]


def test_reserved_and_empty_inputs_are_refused():
    with pytest.raises(ConfigurationError, match="reserved"):
        Task(inputs=["label"], labels=["a"])
    with pytest.raises(ConfigurationError, match="no input fields"):
        Task(inputs={}, labels=["a"])


def test_toml_task_file(tmp_path):
    (tmp_path / "labels.txt").write_text("ham\nspam\n")
    path = tmp_path / "task.toml"
    path.write_text('''
name = "sms"
instructions = "Is the SMS spam?"
metric = "macro_f1"
[inputs]
text = "the SMS message"
[labels]
file = "labels.txt"
[data]
train = "train.jsonl"
dev = "dev.jsonl"
text = "SMS"
label = "Label"
''')
    task = Task.from_toml(path)
    assert task.name == "sms" and task.labels.names == ["ham", "spam"] and task.metric == "macro_f1"
    assert task.data.train == tmp_path / "train.jsonl" and task.data.test is None
    assert task.data.text == ["SMS"] and task.data.label == "Label"


@pytest.mark.parametrize("content, message", [
    ("name = 'x'\n[labels]\nnames = ['a']\nmulti_label = 'yes'", None),
    ("multi_label = 'yes'\n[labels]\nnames = ['a']", "'multi_label' must be bool, not str"),
    ("name = 'x'", "a [labels] section"),
    ("[labels]\nfoo = 1", "needs 'file' or 'names'"),
    ("this is = not toml =", "is not valid TOML"),
])
def test_bad_task_files_are_one_clear_sentence(tmp_path, content, message):
    path = tmp_path / "task.toml"
    path.write_text(content)
    if message is None:
        assert Task.from_toml(path).labels.names == ["a"]
        return
    with pytest.raises(ConfigurationError, match=re.escape(message)) as error:
        Task.from_toml(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_task_file(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        Task.from_toml(tmp_path / "nope.toml")


def test_class_based_signature_with_label_fields():
    class Spam(dspy.Signature):
        """Is the SMS message spam?"""

        text: str = dspy.InputField(desc="the SMS message")
        label: Literal["ham", "spam"] = dspy.OutputField()

    class Topics(dspy.Signature):
        """Which topics does the post discuss?"""

        post: str = dspy.InputField()
        topics: list[Literal["sports", "politics", "tech"]] = dspy.OutputField()

    spam = Task.from_signature(Spam)
    assert (spam.labels.names, spam.multi_label, spam.inputs, spam.name) == (
        ["ham", "spam"], False, {"text": "the SMS message"}, "Spam")
    assert spam.instructions == "Is the SMS message spam?"
    topics = Task.from_signature(Topics)
    assert topics.multi_label and topics.labels.names == ["sports", "politics", "tech"]

    class Free(dspy.Signature):
        text: str = dspy.InputField()
        label: str = dspy.OutputField()

    with pytest.raises(ConfigurationError, match="must be Literal"):
        Task.from_signature(Free)


# ------------------------------------------------------------------------ which columns are inputs


def write_task(tmp_path, data_section: str, inputs: str = 'text = "the SMS message"', multi: bool = False):
    (tmp_path / "labels.txt").write_text("ham\nspam\n")
    path = tmp_path / "task.toml"
    path.write_text(f'name = "sms"\nmulti_label = {str(multi).lower()}\n[inputs]\n{inputs}\n'
                    f'[labels]\nfile = "labels.txt"\n[data]\n{data_section}\n')
    return path


def test_input_columns_one_rule_for_every_data_file(tmp_path):
    (tmp_path / "train.csv").write_text("SMS,Label\nhello,ham\nwin cash,SPAM\n")
    (tmp_path / "other.jsonl").write_text('{"SMS": "hi", "Label": "ham"}\n{"SMS": "buy", "text": "unused"}\n')
    task = Task.from_toml(write_task(tmp_path, 'train = "train.csv"\ntext = "SMS"\nlabel = "Label"'))
    assert task.input_columns == {"text": "SMS"} and task.label_column == "Label"
    train = task.load("train")
    assert train.input_fields == task.input_fields == ["text"]
    assert [(ex.text, ex.label) for ex in train] == [("hello", "ham"), ("win cash", "spam")]
    assert all(set(ex.inputs().keys()) == {"text"} and "SMS" not in ex for ex in train)
    unlabelled = task.read_examples(tmp_path / "other.jsonl", labelled=False)  # a --data file, the same rule
    assert [ex.text for ex in unlabelled] == ["hi", "buy"] and not unlabelled.has_labels
    with pytest.raises(DataError, match=r"line 2: no field 'Label'"):
        task.read_examples(tmp_path / "other.jsonl")


def test_input_columns_default_to_the_input_names_and_the_label_to_the_output_field(tmp_path):
    (tmp_path / "test.jsonl").write_text('{"title": "a", "body": "b", "labels": ["ham", "spam"]}\n')
    path = write_task(tmp_path, 'test = "test.jsonl"', inputs='title = ""\nbody = ""', multi=True)
    task = Task.from_toml(path)
    assert task.data.text is None and task.data.label is None
    assert task.input_columns == {"title": "title", "body": "body"} and task.label_column == "labels"
    assert task.load("test").gold() == [["ham", "spam"]]
    python_task = Task(inputs=["title", "body"], labels=["a"])
    assert python_task.input_columns == {"title": "title", "body": "body"} and python_task.label_column == "label"


def test_data_text_must_name_one_column_per_input_field(tmp_path):
    path = write_task(tmp_path, 'text = ["Title", "Body"]')
    with pytest.raises(ConfigurationError) as error:
        Task.from_toml(path)
    message = str(error.value)
    assert message.startswith(f"task file {path}: [data] text names 2 column(s) (Title, Body) for 1 input field(s) "
                              "(text)") and "\n" not in message
    with pytest.raises(ConfigurationError, match=r"^task 'task': \[data\] text names 1 column\(s\) \(a\) for 2"):
        Task(inputs=["title", "body"], labels=["x"], data=DataSpec(text="a"))
    assert Task(inputs=["title", "body"], labels=["x"], data=DataSpec(text=["T", "B"])).input_columns == {
        "title": "T", "body": "B"}
