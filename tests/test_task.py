"""Task declaration in Python and as a TOML task file."""

from __future__ import annotations

import re
from typing import Literal

import dspy
import pytest

from lmprog.errors import ConfigurationError
from lmprog.task import Task


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
