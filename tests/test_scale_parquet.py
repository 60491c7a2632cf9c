"""Parquet in and out without Ray: rows.py reads .parquet by record batches; predictions written as atomic part
files and combined at the end; a run killed mid-write resumes honestly; threads-only predict to Parquet."""

from __future__ import annotations

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from lmprog.data import iter_rows  # noqa: E402
from lmprog.data.sinks import ParquetSink, open_sink, parts_folder  # noqa: E402
from lmprog.testing import answer_fields, last_user_message  # noqa: E402
from tests.test_compile import CUES, TASK  # noqa: E402


def test_parquet_rows_are_read_in_batches_with_their_numbers(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": list(range(5000)), "text": [f"t{i}" for i in range(5000)]}), path,
                   row_group_size=1000)
    rows = list(iter_rows(path))
    assert len(rows) == 5000 and rows[0] == (1, {"id": 0, "text": "t0"}, None) and rows[-1].line == 5000
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(Exception, match="not a readable Parquet file"):
        list(iter_rows(tmp_path / "bad.parquet"))


def test_parts_resume_and_combine(tmp_path):
    out = tmp_path / "out.parquet"
    sink = ParquetSink(out, part_rows=10)
    sink.write([{"id": i, "label": "a", "confidence": None, "error": None} for i in range(25)])
    sink.write([{"id": 25, "label": "a", "confidence": None, "error": None}])  # buffered, then the run is killed
    assert len(list(parts_folder(out).glob("part-*.parquet"))) == 1
    (parts_folder(out) / ".part-000001.tmp").write_bytes(b"PAR1 half a part")  # a writer killed mid-part
    resumed = open_sink(out)
    assert resumed.done == 25 and not list(parts_folder(out).glob(".*.tmp"))
    resumed.write([{"id": i, "label": "b", "confidence": 0.5, "error": "x"} for i in range(25, 30)])
    resumed.finish()
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == list(range(30)) and not parts_folder(out).exists()
    assert table.schema.field("confidence").type == pa.float64()  # null in the first part, float in the next

    more = open_sink(out)  # a finished file continued with more rows becomes the first part
    assert more.done == 30
    more.write([{"id": 30, "label": "c", "confidence": 1.0, "error": None}])
    more.finish()
    assert pq.read_table(out).column("id").to_pylist() == list(range(31))

    parts_folder(out).mkdir()  # a finish renamed the file but was killed before removing the folder
    (parts_folder(out) / "part-000000.parquet").write_bytes(b"stale")
    assert open_sink(out).done == 31 and not parts_folder(out).exists()


def reader(body: dict) -> str:
    return answer_fields(label=next((n for c, n in CUES.items() if c in last_user_message(body)), "billing"))


@pytest.mark.server(rule=reader)
def test_threads_predict_writes_parquet_and_resumes(server, lm_for, tmp_path):
    from lmprog.evaluation import predict_file

    data, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    cues = list(CUES)
    pq.write_table(pa.table({"id": list(range(40)), "text": [f"about my {cues[i % 4]} {i}" for i in range(40)]}), data)
    lm = lm_for(server)
    import lmprog

    program = lmprog.Classify(TASK)
    first = predict_file(program, TASK, data, out, lm=lm, threads=4)
    assert first.written == 40 and server.request_count == 40
    again = predict_file(program, TASK, data, out, lm=lm, threads=4)
    assert again.skipped == 40 and again.written == 0 and server.request_count == 40
    table = pq.read_table(out)
    assert table.column_names == ["id", "text", "label", "confidence", "error"]
    assert table.column("label").to_pylist() == [CUES[cues[i % 4]] for i in range(40)]
