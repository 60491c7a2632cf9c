"""What the reliability tests and ``bench/reliability.py`` share: a small labelled task, a scripted model
on the test server, the lmprog CLI in subprocesses, and the four experiments (faults, crashes,
concurrency, hostile input), each returning plain figures the tests assert on and the bench prints.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from lmprog.testing import TestLMServer
from tests.test_compile import CUES, scripted  # a model that reads the cue word once it has demos

REPO = Path(__file__).resolve().parents[2]
LABELS = sorted(set(CUES.values()))
FAULT_MIX = {"429": 0.05, "500": 0.04, "timeout": 0.02, "malformed": 0.03, "truncated": 0.03, "empty_choices": 0.03}
FAULT_KINDS = {"429": "rate_limit", "500": "server_error", "timeout": "timeout", "malformed": "malformed_response",
               "empty_choices": "empty_response"}  # truncated answers are answers: paid and kept


def rows(n: int, start: int = 0) -> list[dict]:
    cues = list(CUES)
    return [{"text": f"question {i} about my {cues[i % 4]}", "label": CUES[cues[i % 4]]} for i in range(start, start + n)]


def write_jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


def write_task(folder: Path, n: int = 24, test: int = 16) -> Path:
    """A 4-intent task file with ``n`` labelled train rows, ``test`` test rows and unlabelled texts."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", rows(n))
    write_jsonl(folder / "test.jsonl", rows(test, start=n))
    write_jsonl(folder / "unlabeled.jsonl", [{"text": r["text"]} for r in rows(40, start=n + test)])
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    task = folder / "task.toml"
    task.write_text('name = "bank"\ninstructions = "Which banking intent is this?"\n[inputs]\ntext = "the message"\n'
                    '[labels]\nfile = "labels.txt"\n[data]\ntrain = "train.jsonl"\ntest = "test.jsonl"\n',
                    encoding="utf-8")
    return task


def cli_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LMPROG_LM", "LMPROG_LEDGER")}
    return {**env, "OPENAI_API_KEY": "sk-reliability-fake-0000", "LITELLM_LOCAL_MODEL_COST_MAP": "True", **extra}


def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "lmprog.cli", *map(str, args)]


def cli(*args, env: dict | None = None, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=env or cli_env())


def lm_args(server: TestLMServer, ledger: Path) -> list:
    return ["--lm", "openai/test-model", "--api-base", server.api_base, "--ledger", ledger]


def compile_args(task: Path, server: TestLMServer, ledger: Path, out: Path, threads: int = 4) -> list:
    return ["compile", "classify", "--task", task, *lm_args(server, ledger), "--out", out, "--threads", threads,
            "-o", "reasoning=false", "--json"]


def ledger_rows(ledger: Path) -> dict:
    """Successful calls, failed attempts by kind and the integrity check, read with plain sqlite3."""
    conn = sqlite3.connect(ledger)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'calls'").fetchone():  # killed while creating it
            return {"ok": 0, "errors": {}, "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0]}
        ok = conn.execute("SELECT count(*) FROM calls WHERE error_kind IS NULL").fetchone()[0]
        errors = dict(conn.execute("SELECT error_kind, count(*) FROM calls WHERE error_kind IS NOT NULL "
                                   "GROUP BY error_kind").fetchall())
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    return {"ok": ok, "errors": errors, "integrity": integrity}


# ---------------------------------------------------------------------------------------- faults


def run_under_faults(folder: Path, *, rate_scale: float = 1.0, seed: int = 3) -> dict:
    """compile, evaluate, predict and distill through the CLI while about 20% of requests fail.

    Faults are drawn per request and attempt (the same in every run). Returns each command's exit
    code and stderr, the faults injected, the ledger's failed attempts by kind, and ``lost``: answers
    the server gave that the ledger does not hold.
    """
    task = write_task(folder)
    ledger = folder / "ledger.db"
    faults = {kind: p * rate_scale for kind, p in FAULT_MIX.items()}
    env = cli_env(LMPROG_TIMEOUT="4")  # generous: a slow answer on a busy machine must not time out
    results = {}
    with TestLMServer(rule=scripted, faults=faults, faults_by_request=True, seed=seed, retry_after=0.05,
                      timeout_seconds=8) as server:
        common = lm_args(server, ledger)
        steps = {
            "compile": compile_args(task, server, ledger, folder / "compiled.json"),
            "evaluate": ["evaluate", folder / "compiled.json", "--data", folder / "test.jsonl", *common, "--json"],
            "predict": ["predict", folder / "compiled.json", "--data", folder / "unlabeled.jsonl", "--out",
                        folder / "predictions.jsonl", *common, "--json"],
            "distill": ["distill", folder / "compiled.json", "--unlabeled", folder / "unlabeled.jsonl", "--out",
                        folder / "model.skops", *common, "--json"],
        }
        for name, args in steps.items():
            result = cli(*args, env=env)
            results[name] = {"exit": result.returncode, "stderr": result.stderr[-2000:],
                             "json": json.loads(result.stdout) if result.returncode == 0 else None}
        injected = server.fault_counts
        requests = server.request_count
    rows_now = ledger_rows(ledger)
    answered = requests - sum(n for kind, n in injected.items() if kind != "truncated")
    expected_errors = {FAULT_KINDS[kind]: n for kind, n in injected.items() if kind in FAULT_KINDS}
    return {"steps": results, "injected": injected, "requests": requests, "answered": answered,
            "ledger": rows_now, "expected_errors": expected_errors, "lost": answered - rows_now["ok"],
            "predictions": sum(1 for _ in (folder / "predictions.jsonl").open()) if (folder / "predictions.jsonl").exists()
            else 0}


# ---------------------------------------------------------------------------------------- crashes


def crash_and_resume(folder: Path, *, kills: int = 10, seed: int = 0, sigint: bool = False,
                     fractions: list[float] | None = None) -> dict:
    """Kill a compile (SIGKILL, or SIGINT as Ctrl-C does) at ``kills`` seeded random moments while it is
    calling the LM, rerun each to the end, and compare with an uninterrupted compile.

    Per cycle: the calls the ledger held at the kill, the requests the rerun made, the requests it
    should have made (the uninterrupted compile's, less what the ledger held), the integrity check,
    whether the artifact equals the uninterrupted one's, and the interrupted process's exit code
    and stderr. ``fractions`` (of the calling time) replace the seeded moments.
    """
    task = write_task(folder)
    cycles = []
    with TestLMServer(rule=scripted, latency=0.05) as server:
        reference = folder / "reference.json"
        process = _launch(compile_args(task, server, folder / "reference.db", reference))
        first = _first_request(server, process)
        if process.wait(timeout=600) != 0:
            raise RuntimeError(f"the uninterrupted compile failed: {process.stderr.read()}")
        calling = time.perf_counter() - first  # how long the compile spends calling the LM
        unique = server.request_count
        rng = random.Random(seed)
        fractions = fractions or [rng.uniform(0.05, 0.95) for _ in range(kills)]
        for cycle, fraction in enumerate(fractions):
            server.reset()
            ledger, out = folder / f"crash-{cycle}.db", folder / f"crash-{cycle}.json"
            process = _launch(compile_args(task, server, ledger, out))
            moment = fraction * calling
            _first_request(server, process)
            time.sleep(moment)
            process.send_signal(signal.SIGINT if sigint else signal.SIGKILL)
            _, stderr = process.communicate(timeout=60)
            at_kill = ledger_rows(ledger) if ledger.exists() else {"ok": 0, "errors": {}, "integrity": "ok"}
            before = server.request_count
            rerun = cli(*compile_args(task, server, ledger, out))
            cycles.append({"moment": round(moment, 3), "exit": process.returncode, "stderr": stderr[-1000:],
                           "calls_at_kill": at_kill["ok"], "integrity_at_kill": at_kill["integrity"],
                           "rerun_exit": rerun.returncode, "rerun_requests": server.request_count - before,
                           "expected_requests": unique - at_kill["ok"],
                           "integrity": ledger_rows(ledger)["integrity"],
                           "same_artifact": out.exists() and out.read_bytes() == reference.read_bytes()})
    return {"calling_seconds": calling, "unique_requests": unique, "cycles": cycles}


def _launch(args: list) -> subprocess.Popen:
    return subprocess.Popen(cli_command(*args), env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _first_request(server: TestLMServer, process: subprocess.Popen) -> float:
    """Wait for the process's first LM request (or its end); the moment it came."""
    while server.request_count == 0 and process.poll() is None:
        time.sleep(0.01)
    return time.perf_counter()


# ---------------------------------------------------------------------------------------- concurrency

WORKER = REPO / "tests" / "reliability" / "worker.py"


def concurrent_runs(folder: Path, *, processes: int = 4, threads: int = 8) -> dict:
    """``processes`` processes, each compiling and evaluating with ``threads`` threads against one ledger
    (two seeds, so pairs of processes race for the same calls). Returns what each process says it
    paid and hit, the ledger's totals (``lmprog cache stats``), the server's request count, and the
    stderr lines mentioning a locked database."""
    task = write_task(folder, n=32, test=24)
    ledger = folder / "shared.db"
    with TestLMServer(rule=scripted, latency=0.005) as server:
        workers = [subprocess.Popen([sys.executable, str(WORKER), str(task), server.api_base, str(ledger), str(i % 2),
                                     str(threads)], env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for i in range(processes)]
        outputs = [w.communicate(timeout=600) for w in workers]
        requests = server.request_count
    reports = [json.loads(out) if w.returncode == 0 else {"error": err[-1500:]}
               for w, (out, err) in zip(workers, outputs)]
    stats = json.loads(cli("cache", "stats", "--ledger", ledger, "--json").stdout)
    locked = [line for _, err in outputs for line in err.splitlines() if "locked" in line.lower()]
    return {"reports": reports, "exits": [w.returncode for w in workers], "requests": requests, "stats": stats,
            "locked": locked, "rows": ledger_rows(ledger)}


# ---------------------------------------------------------------------------------------- hostile input

_TASK_HEAD = 'name = "bank"\ninstructions = "Which banking intent is this?"\n[inputs]\ntext = "the message"\n'


def _row_lines(*items) -> bytes:
    return "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items).encode()


def _good(n: int = 2) -> list[dict]:
    return rows(n, start=500)


def hostile_cases(folder: Path) -> list[dict]:
    """At least 50 bad (or odd but valid) inputs: each a file written under ``folder``, the command that
    reads it, and what must happen: ``error`` (exit 2, one line on stderr naming ``names`` and, where the
    fault is on a line, ``line N``) or ``ok`` (exit 0, e.g. a BOM or CRLF line ends)."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[dict] = []

    def case(name: str, command: str, content: bytes | None, expect: str, *, suffix: str = ".jsonl",
             line: int | None = None, names: tuple[str, ...] = (), extra: tuple = ()):
        path = folder / f"{name}{suffix}"
        if content is not None:
            path.write_bytes(content)
        cases.append({"name": name, "command": command, "path": path, "expect": expect, "line": line,
                      "names": names or (path.name,), "extra": extra})

    good = _good()
    # Labelled data for `evaluate` -------------------------------------------------------------
    ev = "evaluate"
    case("utf16", ev, _row_lines(*good).decode().encode("utf-16"), "error", line=1)
    case("latin1", ev, _row_lines(good[0]) + '{"text": "caf\u00e9 card", "label": "card"}\n'.encode("latin-1"),
         "error", line=2)
    case("bom", ev, b"\xef\xbb\xbf" + _row_lines(*good), "ok")
    case("crlf", ev, _row_lines(*good).replace(b"\n", b"\r\n"), "ok")
    case("bom_crlf", ev, b"\xef\xbb\xbf" + _row_lines(*good).replace(b"\n", b"\r\n"), "ok")
    case("missing_text", ev, _row_lines(good[0], {"label": "card"}), "error", line=2)
    case("missing_label", ev, _row_lines(good[0], {"text": "my card"}), "error", line=2)
    case("empty_text", ev, _row_lines(good[0], {"text": "", "label": "card"}), "error", line=2)
    case("blank_text", ev, _row_lines({"text": "   \t ", "label": "card"}, good[0]), "error", line=1)
    case("megabyte_text", ev, _row_lines({"text": "my card " * 131_072, "label": "card"}), "ok")
    case("unknown_label", ev, _row_lines(good[0], {"text": "x", "label": "mortgage"}), "error", line=2,
         names=("mortgage",))
    case("broken_json", ev, _row_lines(good[0], good[1], '{"text": "my card", "label": '), "error", line=3)
    case("trailing_comma", ev, _row_lines('{"text": "my card", "label": "card",}'), "error", line=1)
    case("empty_file", ev, b"", "error")
    case("only_blank_lines", ev, b"\n\n   \n", "error")
    case("list_row", ev, _row_lines(good[0], '["my card", "card"]'), "error", line=2)
    case("null_label", ev, _row_lines({"text": "my card", "label": None}), "error", line=1)
    case("nan_label", ev, _row_lines('{"text": "my card", "label": NaN}'), "error", line=1)
    case("list_label", ev, _row_lines({"text": "my card", "label": ["card", "refund"]}), "error", line=1)
    case("object_text", ev, _row_lines({"text": {"body": "my card"}, "label": "card"}), "error", line=1)
    case("nul_bytes", ev, b"\x00\x01\x02\xff\xfe garbage \x00\n", "error", line=1)
    case("label_case_and_space", ev, _row_lines({"text": "my card", "label": " CARD "}), "ok")
    case("unicode_text", ev, _row_lines({"text": "mi tarjeta \u202e\u200b \U0001F4B3 \u0645\u0631\u062d\u0628\u0627",
                                        "label": "card"}), "ok")
    case("newlines_in_text", ev, _row_lines({"text": "my\ncard\r\nplease", "label": "card"}), "ok")
    case("number_text", ev, _row_lines({"text": 12345, "label": "card"}), "ok")
    case("missing_file", ev, None, "error")
    case("a_directory", ev, None, "error", suffix="")
    (folder / "a_directory").mkdir(exist_ok=True)
    case("spreadsheet", ev, b"PK\x03\x04 not really", "error", suffix=".xlsx")
    case("json_broken_array", ev, b'[{"text": "my card", "label": "card"},\n {"text": "x" "label": "card"}]',
         "error", suffix=".json", line=2)
    case("json_object_not_list", ev, b'{"text": "my card", "label": "card"}', "error", suffix=".json", line=1)
    case("csv_wrong_header", ev, b"message,category\nmy card,card\n", "error", suffix=".csv", names=("text",))
    case("csv_unclosed_quote", ev, b'text,label\n"my card,card\nmy refund,refund\n', "error", suffix=".csv")
    case("csv_extra_field", ev, b"text,label\nmy card,card,extra\n", "error", suffix=".csv", line=2)
    case("csv_commas_quoted", ev, b'text,label\n"my card, the blue one",card\n', "ok", suffix=".csv")
    case("tsv_missing_column", ev, b"text\tlabel\nmy card\n", "error", suffix=".tsv", line=2)
    # Rows for `predict` and texts for `distill` ------------------------------------------------
    case("predict_broken_json", "predict", _row_lines({"text": "a"}, '{"text": '), "error", line=2)
    case("predict_missing_field", "predict", _row_lines({"text": "a"}, {"body": "b"}), "error", line=2)
    case("predict_not_object", "predict", _row_lines('"just a string"'), "error", line=1)
    case("distill_empty", "distill", b"", "error")
    case("distill_missing_text", "distill", _row_lines({"text": "a"}, {"message": "b"}), "error", line=2)
    # Task files and label spaces for `plan` (which reads everything and calls no LM) -----------
    labels = folder / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    write_jsonl(folder / "train.jsonl", rows(24))
    data = '[data]\ntrain = "train.jsonl"\n'
    plan = "plan"

    def task(name: str, text: str, expect: str, **kw):
        case(name, plan, text.encode() if isinstance(text, str) else text, expect, suffix=".toml", **kw)

    task("task_ok", _TASK_HEAD + '[labels]\nfile = "labels.txt"\n' + data, "ok")
    task("task_not_toml", "name = \n[[[", "error", line=1)
    task("task_inputs_number", 'name = "x"\ninputs = 5\n[labels]\nfile = "labels.txt"\n' + data, "error",
         names=("inputs",))
    task("task_multi_label_text", 'multi_label = "yes"\n' + _TASK_HEAD + '[labels]\nfile = "labels.txt"\n' + data,
         "error", names=("multi_label",))
    task("task_metric_number", 'metric = 7\n' + _TASK_HEAD + '[labels]\nfile = "labels.txt"\n' + data, "error",
         names=("metric",))
    task("task_name_list", 'name = []\ninstructions = "x"\n[inputs]\ntext = "t"\n[labels]\nfile = "labels.txt"\n'
         + data, "error", names=("name",))
    task("task_no_labels", _TASK_HEAD + data, "error", names=("labels",))
    task("task_empty_inputs", 'name = "x"\n[inputs]\n[labels]\nfile = "labels.txt"\n' + data, "ok")  # means text
    task("task_reserved_input", 'name = "x"\n[inputs]\nlabel = "t"\n[labels]\nfile = "labels.txt"\n' + data, "error",
         names=("label",))
    task("task_missing_label_file", _TASK_HEAD + '[labels]\nfile = "nowhere.csv"\n' + data, "error",
         names=("nowhere.csv",))
    task("task_missing_train", _TASK_HEAD + '[labels]\nfile = "labels.txt"\n[data]\ntrain = "gone.jsonl"\n', "error",
         names=("gone.jsonl",))
    task("task_utf16", (_TASK_HEAD + '[labels]\nfile = "labels.txt"\n' + data).encode("utf-16"), "error")
    (folder / "few.jsonl").write_bytes(_row_lines(*rows(3)))
    task("task_three_examples", _TASK_HEAD + '[labels]\nfile = "labels.txt"\n[data]\ntrain = "few.jsonl"\n', "error",
         names=("10",))
    (folder / "dup_ids.jsonl").write_bytes(_row_lines(*[{**r, "id": "same" if i in (1, 3) else str(i)}
                                                        for i, r in enumerate(rows(12))]))
    task("task_duplicate_ids", _TASK_HEAD + '[labels]\nfile = "labels.txt"\n[data]\ntrain = "dup_ids.jsonl"\n'
         'id = "id"\n', "error", line=4, names=("dup_ids.jsonl",))

    def label_file(name: str, content: bytes, suffix: str, expect: str, **kw):
        (folder / f"{name}{suffix}").write_bytes(content)
        task(name, _TASK_HEAD + f'[labels]\nfile = "{name}{suffix}"\n' + data, expect,
             names=kw.pop("names", (f"{name}{suffix}",)), **kw)

    label_file("labels_empty", b"", ".txt", "error")
    label_file("labels_duplicates", b"billing\ncard\nrefund\ncard\ntransfer\n", ".txt", "error", line=4)
    label_file("labels_newline_in_name", b'name\nbilling\n"ca\nrd"\nrefund\ntransfer\n', ".csv", "error", line=3)
    comma = "card, debit or credit"
    write_jsonl(folder / "comma_train.jsonl", [{**r, "label": comma if r["label"] == "card" else r["label"]}
                                               for r in rows(24)])
    (folder / "labels_comma.csv").write_text(f'name\nbilling\n"{comma}"\nrefund\ntransfer\n', encoding="utf-8")
    task("labels_comma_in_name", _TASK_HEAD + '[labels]\nfile = "labels_comma.csv"\n[data]\ntrain = "comma_train.jsonl"\n',
         "ok")
    label_file("labels_blank_name", b"name,description\nbilling,money\n,no name\n", ".csv", "error", line=3)
    huge = "name\n" + "\n".join(LABELS + [f"skill number {i}" for i in range(100_000 - len(LABELS))]) + "\n"
    label_file("labels_100k", huge.encode(), ".csv", "error", names=("labels_100k.csv", "100,000", "InferRetrieveRank"))
    return cases


def run_hostile(folder: Path, cases: list[dict], server: TestLMServer, compiled: Path) -> list[dict]:
    """Run every case's command; returns each case with exit code and stderr."""
    from concurrent.futures import ThreadPoolExecutor

    common = lm_args(server, folder / "hostile.db")

    def command(c: dict) -> list:
        path, out = c["path"], folder / f"{c['name']}.out.jsonl"
        if c["command"] == "evaluate":
            return ["evaluate", compiled, "--data", path, *common, "--json"]
        if c["command"] == "predict":
            return ["predict", compiled, "--data", path, "--out", out, *common]
        if c["command"] == "distill":
            return ["distill", compiled, "--unlabeled", path, "--out", folder / f"{c['name']}.skops", *common]
        return ["plan", "classify", "--task", path, "--lm", "openai/test-model", "--json"]

    def one(c: dict) -> dict:
        result = cli(*command(c), cwd=folder)
        return {**c, "exit": result.returncode, "stderr": result.stderr}

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, cases))


def handled(result: dict) -> tuple[bool, str]:
    """Whether a hostile case was handled as it must be, and why not."""
    stderr = result["stderr"]
    if "Traceback" in stderr:
        return False, "traceback"
    if result["expect"] == "ok":
        return (result["exit"] == 0, f"exit {result['exit']}: {stderr[-300:]}")
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("warning:")]
    if result["exit"] != 2:
        return False, f"exit {result['exit']}"
    if len(lines) != 1 or not lines[0].startswith("error: "):
        return False, f"not one error line: {stderr[-300:]!r}"
    missing = [name for name in result["names"] if name not in lines[0]]
    if missing:
        return False, f"does not name {missing}: {lines[0]}"
    if result["line"] is not None and not any(mark in lines[0] for mark in (f"line {result['line']}",
                                                                           f":{result['line']}:")):
        return False, f"does not say line {result['line']}: {lines[0]}"
    return True, ""
