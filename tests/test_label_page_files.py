"""The labelling page without a browser: the token, the headers, and answers that survive a kill.

The kill windows are reproduced exactly: a journal record written but not applied (killed between the
journal and the labelled file), a torn append (killed during the write to the labelled file), a torn
journal record (killed during the journal write). Each restart must leave every answered row once.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lmprog.errors import ConfigurationError, DataError
from lmprog.loop.page import LabelledFile, LabelSession, PageServer, journal_path
from lmprog.task import Task

TASK = """name = "sms"
instructions = "Is this SMS message spam?"
[inputs]
text = "the SMS message"
[labels]
names = ["ham", "spam", "promo"]
[data]
train = "{train}"
"""


def make_task(folder: Path, train: str = "train.jsonl", rows: str | None = None) -> Task:
    (folder / "task.toml").write_text(TASK.format(train=train))
    if rows is not None:
        (folder / train).write_text(rows)
    return Task.from_toml(folder / "task.toml")


def write_queue(folder: Path, texts: list[str]) -> Path:
    queue = folder / "queue.jsonl"
    queue.write_text("".join(json.dumps({"text": t, "why": "uncertain"}) + "\n" for t in texts))
    return queue


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def server(tmp_path):
    task = make_task(tmp_path, rows='{"text": "hello", "label": "ham"}\n')
    session = LabelSession.open(task, queue=write_queue(tmp_path, ["a <b>", "b"]))
    page = PageServer(session)
    thread = threading.Thread(target=page.serve_forever, daemon=True)
    thread.start()
    yield page
    page.shutdown()
    page.server_close()
    session.close()


def request(url: str, *, data: dict | None = None, headers: dict | None = None):
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_every_path_needs_the_token(server):
    base = f"http://127.0.0.1:{server.port}"
    assert server.url.startswith(base + "/") and len(server.token) >= 32
    for path in ["/", "/page.js", "/api/state", f"/{server.token[:-1]}/", f"/x{server.token}/api/state",
                 f"/api/state?token={server.token}"]:
        assert request(base + path)[0] == 403, path
    status, _, body = request(base + "/nope/api/answer", data={"id": "x", "labels": ["ham"]})
    assert status == 403 and body == b"forbidden\n"
    assert request(server.url + "api/state", headers={"Host": f"evil.example:{server.port}"})[0] == 403
    status, headers, body = request(server.url + "api/answer", data={"id": "x", "labels": ["ham"]},
                                    headers={"Origin": "http://evil.example"})
    assert status == 403


def test_page_is_static_and_locked_down(server):
    status, headers, body = request(server.url)
    assert status == 200 and b"<script src=\"page.js\"" in body
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    for asset in ("page.js", "page.css"):
        status, _, text = request(server.url + asset)
        assert status == 200 and b"http://" not in text and b"https://" not in text  # nothing from elsewhere
    assert b"innerHTML" not in request(server.url + "page.js")[2]
    assert server.server_address[0] == "127.0.0.1"


def test_answers_through_the_api(server, tmp_path):
    state = json.loads(request(server.url + "api/state")[2])
    assert [i["inputs"] for i in state["items"]] == [[["text", "a <b>"]], [["text", "b"]]]
    first = state["items"][0]["id"]
    assert request(server.url + "api/answer", data={"id": first, "labels": ["nope"]})[0] == 400
    assert request(server.url + "api/answer", data={"id": first, "labels": ["ham", "spam"]})[0] == 400
    status, _, body = request(server.url + "api/answer", data={"id": first, "labels": ["spam"]})
    assert status == 200 and json.loads(body)["item"]["answer"] == ["spam"]
    assert rows_of(tmp_path / "train.jsonl")[-1] == {"text": "a <b>", "label": "spam"}


def test_killed_between_journal_and_file_is_applied_once(tmp_path):
    task = make_task(tmp_path, rows='{"text": "hello", "label": "ham"}\n')
    queue = write_queue(tmp_path, ["win cash", "see you"])
    session = LabelSession.open(task, queue=queue)
    one, two = (item.id for item in session.items)
    session.answer(one, ["spam"])
    # The second answer reaches the journal, and the process dies before the labelled file is touched.
    text = session.file(tmp_path / "train.jsonl").text_of({"text": "see you", "label": "ham"})
    session.journal.answer(id=two, labels=["ham"], action="label", file="train.jsonl", text=text, stale=[],
                           append=True)
    session.close()
    for _ in range(2):  # restarting twice changes nothing more
        again = LabelSession.open(task, queue=queue)
        assert again.state()["answered"] == 2
        again.close()
    assert rows_of(tmp_path / "train.jsonl") == [{"text": "hello", "label": "ham"},
                                                 {"text": "win cash", "label": "spam"}, {"text": "see you", "label": "ham"}]


def test_killed_after_the_file_before_the_mark_writes_no_duplicate(tmp_path):
    task = make_task(tmp_path, rows="")
    queue = write_queue(tmp_path, ["win cash"])
    session = LabelSession.open(task, queue=queue)
    session.answer(session.items[0].id, ["spam"])
    session.close()
    journal = journal_path(tmp_path / "train.jsonl")
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(line for line in lines if '"applied"' not in line))  # the mark never made it
    LabelSession.open(task, queue=queue).close()
    assert rows_of(tmp_path / "train.jsonl") == [{"text": "win cash", "label": "spam"}]
    assert journal.read_text().count('"applied"') == 1


def test_torn_append_and_torn_journal_record(tmp_path):
    task = make_task(tmp_path, rows='{"text": "hello", "label": "ham"}\n')
    queue = write_queue(tmp_path, ["win cash", "see you"])
    session = LabelSession.open(task, queue=queue)
    one, two = (item.id for item in session.items)
    text = session.file(tmp_path / "train.jsonl").text_of({"text": "win cash", "label": "spam"})
    session.journal.answer(id=one, labels=["spam"], action="label", file="train.jsonl", text=text, stale=[],
                           append=True)
    session.close()
    with (tmp_path / "train.jsonl").open("a") as handle:
        handle.write(text[:9])  # killed halfway through the append
    with journal_path(tmp_path / "train.jsonl").open("a") as handle:
        handle.write('{"kind":"answer","seq":2,"id":"' + two)  # killed halfway through the next journal record
    again = LabelSession.open(task, queue=queue)
    assert [i["answer"] for i in again.state()["items"]] == [["spam"], None]  # the torn answer was never confirmed
    again.close()
    assert rows_of(tmp_path / "train.jsonl") == [{"text": "hello", "label": "ham"},
                                                 {"text": "win cash", "label": "spam"}]


def test_changing_an_answer_leaves_one_row(tmp_path):
    task = make_task(tmp_path, rows='{"text": "hello", "label": "ham"}\n')
    session = LabelSession.open(task, queue=write_queue(tmp_path, ["win cash"]))
    item = session.items[0].id
    for labels in (["spam"], ["promo"], ["spam"]):
        session.answer(item, labels)
    session.close()
    assert rows_of(tmp_path / "train.jsonl") == [{"text": "hello", "label": "ham"},
                                                 {"text": "win cash", "label": "spam"}]


def test_csv_rows_keep_the_header_and_quote_fields(tmp_path):
    task = make_task(tmp_path, train="train.csv", rows="text,label,source\nhello,ham,web\n")
    session = LabelSession.open(task, queue=write_queue(tmp_path, ['say "hi", then\nleave', "plain"]))
    for item, label in zip(session.items, ["spam", "ham"]):
        session.answer(item.id, [label])
    session.close()
    examples = task.read_examples(tmp_path / "train.csv")  # what the next compile reads
    assert [(e.text, e.label) for e in examples] == [("hello", "ham"), ('say "hi", then\nleave', "spam"),
                                                     ("plain", "ham")]
    assert (tmp_path / "train.csv").read_text().startswith("text,label,source\nhello,ham,web\n")


def test_a_new_labelled_file_is_created_with_its_header(tmp_path):
    task = make_task(tmp_path, train="new.csv")
    session = LabelSession.open(task, queue=write_queue(tmp_path, ["win cash"]))
    session.answer(session.items[0].id, ["spam"])
    session.close()
    assert (tmp_path / "new.csv").read_text() == "text,label\nwin cash,spam\n"


def test_review_corrects_the_row_in_place(tmp_path):
    task = make_task(tmp_path, rows='{"text": "hello", "label": "ham"}\n{"text": "WIN", "label": "ham", "id": 7}\n'
                                    '{"text": "bye", "label": "ham"}\n')
    (tmp_path / "audit.json").write_text(json.dumps({"flags": [
        {"line": 2, "text": "WIN", "given": "ham", "suggested": "spam", "score": 0.9},
        {"index": 2, "text": "bye", "given": "ham", "suggested": "promo"},
        {"text": "hello", "given": "ham", "suggested": "spam"}]}))
    session = LabelSession.open(task, audit=tmp_path / "audit.json")
    take, choose, keep = session.items
    assert take.context == [("score", "0.9")] and take.given == ["ham"] and take.suggested == ["spam"]
    assert session.answer(take.id, ["spam"])["action"] == "take"
    assert session.answer(choose.id, ["spam"])["action"] == "choose"
    assert session.answer(keep.id, ["ham"])["action"] == "keep"
    session.close()
    assert rows_of(tmp_path / "train.jsonl") == [{"text": "hello", "label": "ham"},
                                                 {"text": "WIN", "label": "spam", "id": 7},
                                                 {"text": "bye", "label": "spam"}]
    again = LabelSession.open(task, audit=tmp_path / "audit.json")  # the flags name the old labels: same items
    again.answer(again.items[0].id, ["ham"])  # changed one's mind: back to the gold label
    again.close()
    assert rows_of(tmp_path / "train.jsonl")[1] == {"text": "WIN", "label": "ham", "id": 7}


def test_refusals(tmp_path):
    task = make_task(tmp_path, train="train.json", rows="[]")
    with pytest.raises(ConfigurationError, match="cannot be written"):
        LabelSession.open(task, queue=write_queue(tmp_path, ["x"]))
    task = make_task(tmp_path, rows="")
    with pytest.raises(ConfigurationError, match="nothing to label"):
        LabelSession.open(task)
    first = LabelSession.open(task, queue=write_queue(tmp_path, ["x"]))
    with pytest.raises(ConfigurationError, match="another lmprog label"):
        LabelSession.open(task, queue=write_queue(tmp_path, ["x"]))
    first.close()
    tsv = LabelledFile(tmp_path / "t.tsv", columns=["text", "label"])
    with pytest.raises(DataError, match="TSV"):
        tsv.text_of({"text": "a\tb", "label": "ham"})


def test_a_last_row_without_a_line_break_is_kept(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "hello", "label": "ham"}')
    labelled = LabelledFile(path, columns=["text", "label"])
    row = labelled.text_of({"text": "x", "label": "spam"})
    assert labelled.ensure(row) == "appended" and labelled.ensure(row) == "present"
    assert labelled.ensure(labelled.text_of({"text": "hello", "label": "ham"})) == "present"
    assert rows_of(path) == [{"text": "hello", "label": "ham"}, {"text": "x", "label": "spam"}]


def test_the_label_loops_queue_and_audit_formats(tmp_path):
    """Rows written by lmprog.loop.queue (suggest, audit, estimate) and an audit's JSON flags."""
    loop_queue = pytest.importorskip("lmprog.loop.queue")
    queue_row, write_loop_queue = loop_queue.queue_row, loop_queue.write_queue

    task = make_task(tmp_path, rows='{"text": "hello", "label": "ham"}\n{"text": "WIN", "label": "ham"}\n')
    write_loop_queue(tmp_path / "queue.jsonl", [
        queue_row(task, {"text": "free cash"}, queue="suggest", reason="far from every labelled row", row=4),
        queue_row(task, {"text": "WIN"}, queue="audit", reason="label looks wrong", row=1, label="ham",
                  suggested="spam", evidence=["the classifier says spam", "so do the label names"]),
        queue_row(task, {"text": "pool row"}, queue="estimate", reason="drawn", row=9,
                  estimate={"draws": 2, "probability": 0.01, "predicted": "ham"})])
    session = LabelSession.open(task, queue=tmp_path / "queue.jsonl")
    suggest, review, estimate = session.items
    assert (suggest.kind, review.kind, estimate.kind) == ("label", "review", "label")
    assert ("reason", "far from every labelled row") in suggest.context and suggest.suggested is None
    assert review.given == ["ham"] and review.suggested == ["spam"]
    assert ("evidence", "the classifier says spam\nso do the label names") in review.context
    for item, label in ((suggest, "spam"), (review, "spam"), (estimate, "promo")):
        session.answer(item.id, [label])
    session.close()
    assert rows_of(tmp_path / "train.jsonl") == [{"text": "hello", "label": "ham"}, {"text": "WIN", "label": "spam"},
                                                 {"text": "free cash", "label": "spam"}]
    estimated = rows_of(tmp_path / "queue.jsonl")[2]  # filled in where lmprog estimate reads it back
    assert estimated["label"] == "promo" and estimated["estimate"] == {"draws": 2, "probability": 0.01,
                                                                       "predicted": "ham"}

    (tmp_path / "audit.json").write_text(json.dumps({"flags": [
        {"row": 0, "inputs": {"text": "hello"}, "given": "ham", "suggested": "promo", "quality": 0.0123,
         "evidence": ["odd one out"], "program_answer": None}]}))
    again = LabelSession.open(task, audit=tmp_path / "audit.json")
    flag = again.items[0]
    assert flag.context == [("quality", "0.0123"), ("evidence", "odd one out")]
    again.answer(flag.id, ["promo"])
    again.close()
    assert rows_of(tmp_path / "train.jsonl")[0] == {"text": "hello", "label": "promo"}


def test_multi_label_answers_in_jsonl_and_csv(tmp_path):
    (tmp_path / "task.toml").write_text(TASK.format(train="train.csv").replace("[inputs]", "multi_label = true\n[inputs]"))
    (tmp_path / "train.csv").write_text("text,labels\nhello,ham\n")
    task = Task.from_toml(tmp_path / "task.toml")
    session = LabelSession.open(task, queue=write_queue(tmp_path, ["cheap ham"]))
    with pytest.raises(DataError, match="not a label"):
        session.answer(session.items[0].id, ["ham", "nope"])
    session.answer(session.items[0].id, ["promo", "ham", "promo"])
    session.close()
    assert (tmp_path / "train.csv").read_text() == "text,labels\nhello,ham\ncheap ham,promo|ham\n"
    assert [e["labels"] for e in task.read_examples(tmp_path / "train.csv")] == [["ham"], ["promo", "ham"]]


def test_a_torn_first_write_of_a_new_csv_is_redone(tmp_path):
    task = make_task(tmp_path, train="new.csv", rows="text,la")  # killed while writing the header
    session = LabelSession.open(task, queue=write_queue(tmp_path, ["win cash"]))
    session.answer(session.items[0].id, ["spam"])
    session.close()
    assert (tmp_path / "new.csv").read_text() == "text,label\nwin cash,spam\n"
    (tmp_path / "other.csv").write_text("text,label\nwin c")  # killed while writing the first row
    labelled = LabelledFile(tmp_path / "other.csv", columns=["text", "label"])
    assert labelled.ensure(labelled.text_of({"text": "win cash", "label": "spam"})) == "appended"
    assert (tmp_path / "other.csv").read_text() == "text,label\nwin cash,spam\n"


def test_the_audit_reports_json(tmp_path, monkeypatch):
    """``lmprog audit --json``: ``data`` as given on its command line, flags with row, text, inputs and evidence."""
    task = make_task(tmp_path, rows='{"text": "hello", "label": "ham"}\n{"text": "WIN", "label": "ham"}\n')
    (tmp_path / "reports").mkdir()
    report = {"kind": "audit", "title": "sms · label audit", "data": "train.jsonl", "examples": 2,
              "flags": [{"row": 1, "text": "WIN", "inputs": {"text": "WIN"}, "given": "ham", "suggested": "spam",
                         "quality": 0.0123, "given_probability": 0.1, "suggested_probability": 0.9,
                         "evidence": ["TF-IDF classifier: spam 0.93"], "program_answer": None,
                         "program_confidence": None}]}
    (tmp_path / "reports" / "audit.json").write_text(json.dumps(report))
    monkeypatch.chdir(tmp_path)  # where lmprog audit ran: data is relative to it
    session = LabelSession.open(task, audit=Path("reports/audit.json"))
    flag = session.items[0]
    assert flag.given == ["ham"] and flag.suggested == ["spam"]
    assert [key for key, _ in flag.context] == ["quality", "given_probability", "suggested_probability", "evidence"]
    session.answer(flag.id, ["spam"])
    session.close()
    assert rows_of(tmp_path / "train.jsonl")[1] == {"text": "WIN", "label": "spam"}
    (tmp_path / "reports" / "audit.json").write_text(json.dumps({**report, "data": "gone.jsonl"}))
    with pytest.raises(DataError, match="gone.jsonl"):
        LabelSession.open(task, audit=Path("reports/audit.json"))
