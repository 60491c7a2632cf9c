"""Compile benchmark: zero-shot vs DSPy's BootstrapFewShotWithRandomSearch vs lmprog.compile vs the floor.

    python bench/compile.py                                   # embedded SmolLM2, 3 label tasks x 5 seeds
    python bench/compile.py --methods zero-shot,dspy,floor    # run only these cells (tables show every finished one)
    python bench/compile.py --task path/to/task.toml          # any task file (its train file: the labels)
    python bench/compile.py --irera                           # Infer-Retrieve-Rank: esco_tech and esco_house
    python bench/compile.py --table-only                      # recompute the tables from bench/.results
    python bench/compile.py --lm openai/gpt-4o-mini           # any litellm model

Tasks: ``--task`` takes task files or the names sms_spam, banking77, nlupp, esco_tech (the examples'
task files) and esco_house (built from ../shared/data/esco_house with esco_tech's ESCO label file). Every
method gets the same labelled examples, the first ``--labelled`` (50) of the task's train file, and is
scored on the first ``--test`` (100) examples of its test file by the task's headline metric.

Methods:
- ``zero-shot``: the program before any compile (one run serves every seed);
- ``dspy``: DSPy's BootstrapFewShotWithRandomSearch with its defaults on the same lmprog module, the
  labelled examples split per seed into halves (trainset, valset) by ``Dataset.split``;
- ``lmprog``: ``lmprog.compile`` at its defaults, given all the labelled examples and the seed;
- ``floor``: what the labels alone give, no LM. Label tasks: ``lmprog.supervised.text_pipeline`` (TF-IDF +
  logistic regression) trained on the labelled examples. Ranking tasks (Infer-Retrieve-Rank, metric rp@k):
  the program's own retriever given the raw input text as its query.

Each (task, method, seed) cell has its own ledger (bench/.ledgers) and result file (bench/.results, with
every test example's gold and answer), so an interrupted benchmark resumes where it stopped and the tables
are recomputed from the result files alone. Intervals are 95% (lmprog.intervals): Wilson for accuracy, a
seeded bootstrap over the test examples otherwise; differences are paired on the same test examples.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TQDM_DISABLE", "1")  # DSPy's progress bars would fill a benchmark's log

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from lmprog import intervals  # noqa: E402
from lmprog import outputs as kinds  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
RESULTS, LEDGERS = HERE / ".results", HERE / ".ledgers"
LABEL_TASKS = ("sms_spam", "banking77", "nlupp")
IRERA_TASKS = ("esco_tech", "esco_house")
METHODS = ("zero-shot", "dspy", "lmprog", "floor")
IRERA_METHODS = ("zero-shot", "lmprog", "floor")
SEED_FREE = frozenset({"zero-shot"})  # nothing to learn: one run serves every seed
# Pair with any seed's cell when the same seed is missing: the floor learns from the same labelled examples
# whatever the seed (the retrieval floor learns nothing), so its cells differ by the classifier's seed at most.
PAIR_ANY_SEED = SEED_FREE | {"floor"}
CALLS_TODAY = 280  # lmprog's compile calls per compile before issue 14 (the target: no more)
TARGET_POINTS, TARGET_CALL_SHARE = 5.0, 0.50


class _QuietCopies(logging.Filter):
    """DSPy warns once per predictor copy that an LM cannot be deep-copied (it is shared, as intended)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to deep copy attribute")


def data_root() -> Path:
    return Path(os.environ.get("LMPROG_DATA") or REPO.parent / "shared" / "data")


# ---------------------------------------------------------------------------------------------- tasks


@dataclass
class BenchTask:
    """One task of the benchmark: the labelled examples every method learns from and the test examples."""

    name: str
    task: object
    labelled: object  # a lmprog Dataset
    test: list
    ranking: bool  # Infer-Retrieve-Rank (the task's metric is a ranking metric)


def task_file(spec: str):
    import lmprog

    if spec == "esco_house":
        return esco_house_task()
    path = REPO / "examples" / spec / "task.toml" if spec in LABEL_TASKS + IRERA_TASKS else Path(spec)
    return lmprog.Task.from_toml(path)


def esco_house_task():
    """esco_tech's task (the ESCO v1.1.0 skills) with the HOUSE job ads of ../shared/data as its data."""
    from lmprog.task import DataSpec

    tech = task_file("esco_tech")
    root = data_root() / "esco_house"
    return replace(tech, name="esco_house", instructions=tech.instructions.replace("a tech job ad", "a job ad"),
                   data=DataSpec(train=root / "validation.jsonl", test=root / "test.jsonl", label="labels"))


def load_task(spec: str, labelled: int, test: int) -> BenchTask:
    task = task_file(spec)
    ranking = kinds.for_task(task) is kinds.RANKING or str(task.metric).startswith(("rp@", "p@", "r@"))
    return BenchTask(task.name, task, task.load("train")[:labelled], list(task.load("test"))[:test], ranking)


def program_for(bench: BenchTask, retriever: str):
    import lmprog

    task = bench.task
    if bench.ranking:
        return lmprog.InferRetrieveRank(task, retriever=lmprog.LabelRetriever(
            task.labels, kind=retriever, index_dir=REPO / "cache" / "indexes"))
    return lmprog.MultiLabelClassify(task) if task.multi_label else lmprog.Classify(task)


# ---------------------------------------------------------------------------------------------- running


def ledger_path(folder: Path, name: str, method: str, seed: int, model: str) -> Path:
    return folder / f"{name}-{method}-{seed}-{model.replace('/', '_')}.db"


def result_path(results: Path, name: str, method: str, seed: int, model: str, test: int) -> Path:
    return results / f"{name}-{method}-{seed}-{model.replace('/', '_')}-{test}.json"


def artifact_path(results: Path, *cell) -> Path:
    """Where a compiled cell's artifact is kept (a subfolder, so result files are the only ``*.json`` at the top)."""
    return results / "artifacts" / result_path(results, *cell).name


def requests_so_far(ledger) -> int:
    """Every LM request the ledger has seen: paid calls plus ledger hits (every run)."""
    ledger.flush_hits()
    stats = ledger.stats()
    return stats["calls"] + stats["hits"]


def paid_tokens(ledger, but_commands: Sequence[str] = ("evaluate",)) -> int:
    """Tokens of every paid call in the ledger outside runs of ``but_commands``: what the compile paid for,
    over every process that worked on the cell (a resumed cell's earlier calls are hits in its last run)."""
    def tokens(stats):
        return stats["prompt_tokens"] + stats["completion_tokens"]

    skipped = [run["id"] for run in ledger.runs(limit=None) if run["command"] in but_commands]
    return tokens(ledger.stats()) - sum(tokens(ledger.stats(run_id=run)) for run in skipped)


def compile_dspy(program, bench: BenchTask, lm, seed: int, threads: int):
    import dspy
    from dspy.teleprompt import BootstrapFewShotWithRandomSearch

    from lmprog.run import open_run

    half = len(bench.labelled) // 2
    train, dev = bench.labelled.split(train=half, dev=len(bench.labelled) - half, seed=seed)
    kind = kinds.of(program)
    # DSPy's optimizers copy the program without its LM: the LM comes from the context, as in DSPy's docs.
    with open_run(lm, "bench dspy compile", {"task": bench.name, "seed": seed}), dspy.context(lm=lm):
        optimizer = BootstrapFewShotWithRandomSearch(
            metric=lambda example, prediction, trace=None: kind.example_score(example.get(kind.field),
                                                                              prediction.get(kind.field)),
            num_threads=threads)
        return optimizer.compile(program, trainset=list(train), valset=list(dev))


def run_lm_cell(bench: BenchTask, method: str, seed: int, args) -> dict:
    """Compile (or not) and score on test one LM cell; the figures of its own ledger."""
    import lmprog

    path = ledger_path(args.ledgers, bench.name, method, seed, args.lm)
    path.parent.mkdir(parents=True, exist_ok=True)
    lm = lmprog.make_lm(args.lm, ledger=path, **({"api_base": args.api_base} if args.api_base else {}))
    resumed = lm.ledger.stats()["calls"] > 0  # an interrupted cell: its wall time is too short
    program = program_for(bench, args.retriever)
    program.set_lm(lm)
    before, started = requests_so_far(lm.ledger), time.perf_counter()
    if method == "dspy":
        program = compile_dspy(program, bench, lm, seed, args.threads)
    elif method == "lmprog":
        program = lmprog.compile(program, list(bench.labelled), lm=lm, seed=seed, threads=args.threads)
    compile_seconds = time.perf_counter() - started
    compile_calls = requests_so_far(lm.ledger) - before
    started = time.perf_counter()
    evaluation = lmprog.evaluate(program, bench.test, lm=lm, threads=args.threads)
    test_seconds = time.perf_counter() - started
    answers = [r.predicted for r in evaluation.results]
    return {"compile_calls": compile_calls, "compile_tokens": paid_tokens(lm.ledger),
            "compile_seconds": compile_seconds, "test_seconds": test_seconds,
            "test_calls": requests_so_far(lm.ledger) - before - compile_calls, "resumed": resumed,
            "errors": sum(r.error is not None for r in evaluation.results), "answers": answers,
            "compiled": compiled_summary(program, artifact_path(args.results, bench.name, method, seed, args.lm,
                                                                args.test))}


def compiled_summary(program, artifact: Path) -> dict | None:
    """What lmprog's compile chose and why, as its artifact says (the artifact is saved beside the result)."""
    optimizer = getattr(program, "optimizer", None)
    if optimizer is None:
        return None
    try:
        artifact.parent.mkdir(parents=True, exist_ok=True)
        program.save(artifact)
    except Exception as error:  # noqa: BLE001 - the figures matter more than the artifact copy
        artifact = f"not saved: {type(error).__name__}: {error}"
    return json.loads(json.dumps({
        "program": type(program.program).__name__, "dev_score": program.dev_score, "optimizer": optimizer,
        "candidates": len(program.candidates or []), "spent": program.spent, "artifact": str(artifact)},
        default=str))


def input_text(task, example) -> str:
    return "\n".join(str(example.get(name, "")) for name in task.input_fields)


def supervised_answers(bench: BenchTask, seed: int) -> list:
    """The plain classifier trained on the labelled examples, answering each test example."""
    from lmprog import supervised

    task, field = bench.task, bench.task.output_field
    gold = [ex.get(field) for ex in bench.labelled]
    classes = sorted({label for g in gold for label in (g if task.multi_label else [g])})
    if len(classes) < 2:
        return [[] if task.multi_label else classes[0] if classes else None for _ in bench.test]
    pipeline = supervised.text_pipeline(multi_label=task.multi_label, seed=seed)
    pipeline.fit([input_text(task, ex) for ex in bench.labelled], supervised.targets(gold, classes, task.multi_label))
    texts = [input_text(task, ex) for ex in bench.test]
    if task.multi_label:
        return supervised.answers_from(pipeline.predict_proba(texts), classes, True)
    return [str(answer) for answer in pipeline.predict(texts)]


def retrieval_answers(bench: BenchTask, retriever: str) -> list:
    """The program's retriever given each test input's raw text as the query: its top 10."""
    program = program_for(bench, retriever)
    texts = [input_text(bench.task, ex) for ex in bench.test]
    return [[name for name, _ in found] for found in program.retriever.search_many(texts, k=10)]


def run_floor_cell(bench: BenchTask, seed: int, args) -> dict:
    started = time.perf_counter()
    answers = retrieval_answers(bench, args.retriever) if bench.ranking else supervised_answers(bench, seed)
    return {"compile_calls": 0, "compile_tokens": 0, "compile_seconds": time.perf_counter() - started,
            "test_seconds": 0.0, "test_calls": 0, "resumed": False, "errors": 0, "answers": answers,
            "compiled": None}


def code_version() -> dict:
    """The commit the cell ran at, the last commit that touched lmprog's optimizer, and the uncommitted changes
    to lmprog in the shared working tree it ran from (their paths and a hash of the diff)."""
    def git(*argv):
        try:
            return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True,
                                  check=True).stdout.rstrip()
        except (OSError, subprocess.CalledProcessError):
            return None

    import hashlib

    changes = git("status", "--porcelain", "--", "lmprog")
    return {"head": git("rev-parse", "--short", "HEAD"),
            "optimize": git("log", "-1", "--format=%h", "--", "lmprog/optimize"),
            "uncommitted": [line[3:] for line in (changes or "").splitlines()],
            "uncommitted_diff": hashlib.sha256((git("diff", "HEAD", "--", "lmprog") or "").encode()).hexdigest()[:12]}


def result_record(bench: BenchTask, method: str, seed: int, args, figures: dict) -> dict:
    """A cell's result file: its figures and every test example's gold and answer (rankings cut at 10)."""
    kind = kinds.for_task(bench.task) if not bench.ranking else kinds.RANKING
    answers = figures.pop("answers")
    if kind.ranked:
        answers = [list(a or [])[:max(10, rank_cutoff(bench.task.metric))] for a in answers]
    gold = [ex.get(kind.field) for ex in bench.test]
    labels = [] if kind.ranked else list(bench.task.labels.names)
    # "test" is the --test asked for (it names the result file); len(gold) is how many the test file had
    record = {"task": bench.name, "method": method, "seed": seed, "model": args.lm, "test": args.test,
              "labelled": len(bench.labelled), "metric": kind.headline(bench.task.metric), "output": kind.name,
              "labels": labels, "gold": gold, "answers": answers, **figures,
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    record["score"] = headline(record)
    return record


def rank_cutoff(metric: str | None) -> int:
    try:
        return int(str(metric).split("@")[1])
    except (IndexError, ValueError):
        return 10


def run_cell(bench: BenchTask, method: str, seed: int, args, console: Console) -> None:
    path = result_path(args.results, bench.name, method, seed, args.lm, args.test)
    if path.exists():
        return
    console.log(f"{bench.name} · {method} · seed {seed} ...")
    code = code_version()  # the shared tree may change while a long run goes on
    figures = run_floor_cell(bench, seed, args) if method == "floor" else run_lm_cell(bench, method, seed, args)
    # lmprog's modules are imported when the process first needs them, so both states are kept
    figures["code"], figures["code_at_start"] = code, args.code_at_start
    record = result_record(bench, method, seed, args, figures)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    partial.replace(path)
    console.log(f"{bench.name} · {method} · seed {seed}: {record['metric']} {record['score']:.3f}, "
                f"{record['compile_calls']} compile calls, {record['compile_seconds']:.0f} s compile, "
                f"{record['test_seconds']:.0f} s test")


def forget(bench: BenchTask, method: str, seeds: Sequence[int], args, console: Console) -> None:
    """--rerun: delete the cells' results and ledgers, so they run afresh (e.g. after lmprog's compile changed)."""
    for seed in seeds:
        cell = (bench.name, method, seed, args.lm, args.test)
        paths = [result_path(args.results, *cell), artifact_path(args.results, *cell)]
        base = ledger_path(args.ledgers, bench.name, method, seed, args.lm)
        paths += [base, Path(f"{base}-wal"), Path(f"{base}-shm")]
        for path in paths:
            if path.exists():
                path.unlink()
                console.log(f"deleted {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


# ---------------------------------------------------------------------------------------------- scoring (no LM)


def metric_of(result: dict) -> Callable[[np.ndarray], np.ndarray]:
    """The cell's headline metric on resampled test examples: index rows in, one value per row out."""
    kind, metric, gold, answers = kinds.by_name(result["output"]), result["metric"], result["gold"], result["answers"]
    per_example = example_values(result)
    if per_example is not None:
        return lambda idx: per_example[idx].mean(axis=-1)
    if metric == "micro_f1":
        labels = set(result["labels"]) or None
        counts = np.array([set_counts(g, a, labels) for g, a in zip(gold, answers)], dtype=float).reshape(-1, 3)

        def micro_f1(idx):
            tp, fp, fn = (counts[:, j][idx].sum(axis=-1) for j in range(3))
            denominator = 2 * tp + fp + fn
            return np.divide(2 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)
        return micro_f1

    def any_metric(idx):  # slow but general (macro F1 ...): the kind's own metrics per resample
        rows = np.atleast_2d(idx)
        return np.array([kind.metrics([gold[i] for i in row], [answers[i] for i in row],
                                      result["labels"]).get(metric, 0.0) for row in rows])
    return any_metric


def example_values(result: dict) -> np.ndarray | None:
    """Per-example values whose mean is the headline (accuracy, RP@k, P@k, R@k), or None (micro/macro F1)."""
    kind, metric = kinds.by_name(result["output"]), result["metric"]
    if metric == "accuracy" or (kind.multi and metric == "example_f1"):
        return np.array([kind.example_score(g, a) for g, a in zip(result["gold"], result["answers"])], dtype=float)
    if kind.ranked:
        return np.array([kind.metrics([g], [a or []], []).get(metric, 0.0) if g else 0.0
                         for g, a in zip(result["gold"], result["answers"])], dtype=float)
    return None


def set_counts(gold, answer, labels: set | None) -> tuple[int, int, int]:
    gold, answer = set(gold or ()), set(answer or ())
    if labels is not None:
        gold, answer = gold & labels, answer & labels
    return len(gold & answer), len(answer - gold), len(gold - answer)


def headline(result: dict) -> float:
    n = len(result["gold"])
    return float(metric_of(result)(np.arange(n)[None, :])[0]) if n else 0.0


def cell_interval(result: dict) -> intervals.Interval:
    n = len(result["gold"])
    values = example_values(result)
    if result["metric"] == "accuracy" and values is not None:
        return intervals.proportion_interval(int(values.sum()), n)
    return intervals.metric_interval(metric_of(result), n, headline(result))


def check_paired(a: dict, b: dict) -> None:
    if a["gold"] != b["gold"]:
        raise SystemExit(f"{a['task']}: {a['method']} seed {a['seed']} and {b['method']} seed {b['seed']} were "
                         "scored on different test examples; rerun one of them")


def cell_difference(a: dict, b: dict) -> intervals.Difference:
    """``b - a`` on the same test examples with its paired interval."""
    check_paired(a, b)
    values_a, values_b = example_values(a), example_values(b)
    if values_a is not None and values_b is not None:
        return intervals.paired_difference(values_a, values_b)
    return intervals.metric_difference(metric_of(a), metric_of(b), len(a["gold"]))


def seed_mean(cells: Sequence[dict]) -> Callable[[np.ndarray], np.ndarray]:
    metrics = [metric_of(cell) for cell in cells]
    return lambda idx: np.mean([metric(idx) for metric in metrics], axis=0)


def mean_interval(cells: Sequence[dict]) -> intervals.Interval:
    """The mean over seeds with its interval over the test examples (every seed scored on the same draw)."""
    value = statistics.fmean(cell["score"] for cell in cells)
    return intervals.metric_interval(seed_mean(cells), len(cells[0]["gold"]), value)


def mean_difference(a: Sequence[dict], b: Sequence[dict]) -> intervals.Difference:
    """Mean over seeds of ``b`` minus that of ``a``, paired on the test examples."""
    for cell in (*a[1:], *b):
        check_paired(a[0], cell)
    return intervals.metric_difference(seed_mean(a), seed_mean(b), len(a[0]["gold"]))


# ---------------------------------------------------------------------------------------------- results


def load_results(folder: Path, *, model: str, test: int, tasks: Sequence[str] | None = None,
                 seeds: Sequence[int] | None = None) -> dict[str, dict[str, list[dict]]]:
    """``{task: {method: [cells by seed]}}`` from the result files of ``model`` scored on ``test`` examples;
    a seed-free method (zero-shot) keeps its one cell."""
    found: dict[str, dict[str, list[dict]]] = {}
    for path in sorted(folder.glob("*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if result.get("model") != model or result.get("test") != test:
            continue
        if tasks is not None and result["task"] not in tasks:
            continue
        if seeds is not None and result["method"] not in SEED_FREE and result["seed"] not in seeds:
            continue
        result["score"] = headline(result)  # recomputed from the answers, whatever the file says
        found.setdefault(result["task"], {}).setdefault(result["method"], []).append(result)
    order = {name: i for i, name in enumerate(tasks or ())}
    return {task: {method: sorted(by_method[method], key=lambda r: r["seed"]) for method in METHODS
                   if method in by_method}
            for task, by_method in sorted(found.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))}


# ---------------------------------------------------------------------------------------------- summaries


def spread(values: Sequence[float]) -> tuple[float, float]:
    values = list(values)
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def partner(cells: Sequence[dict] | None, seed: int) -> dict | None:
    """The cell of another method to pair with seed ``seed``: the same seed, else (zero-shot, floor) the first."""
    if not cells:
        return None
    same = [cell for cell in cells if cell["seed"] == seed]
    return same[0] if same else cells[0] if cells[0]["method"] in PAIR_ANY_SEED else None


def comparisons(by_method: dict[str, list[dict]], method: str) -> list[dict]:
    """Each of ``method``'s cells against zero-shot, the floor and DSPy on the same test examples."""
    rows = []
    for cell in by_method.get(method, []):
        row = {"cell": cell, "interval": cell_interval(cell)}
        for other in ("zero-shot", "floor", "dspy"):
            match = partner(by_method.get(other), cell["seed"]) if other != method else None
            row[other] = cell_difference(match, cell) if match is not None else None
        rows.append(row)
    return rows


def regret(rows: Sequence[dict]) -> dict:
    """How often and by how much the chosen programs score below zero-shot on test."""
    diffs = [row["zero-shot"] for row in rows if row["zero-shot"] is not None]
    below = [d.value for d in diffs if d.value < 0]
    return {"cells": len(diffs), "below": len(below), "worse": sum(d.verdict == intervals.WORSE for d in diffs),
            "mean_shortfall": -statistics.fmean(below) if below else 0.0, "max_shortfall": -min(below, default=0.0),
            "below_floor": sum(row["floor"] is not None and row["floor"].verdict == intervals.WORSE for row in rows),
            "floor_cells": sum(row["floor"] is not None for row in rows)}


def code_label(cell: dict) -> str:
    """The optimizer commit of the tree when the cell's process started (else when the cell started), with
    ``+diff <hash>`` when lmprog had uncommitted changes."""
    code = cell.get("code_at_start") or cell.get("code") or {}
    dirty = f" +diff {code['uncommitted_diff']}" if code.get("uncommitted") else ""
    return f"{code.get('optimize')}{dirty}"


def method_summary(by_method: dict[str, list[dict]], method: str) -> dict:
    cells = by_method[method]
    rows = comparisons(by_method, method)
    dspy_cells = by_method.get("dspy")
    summary = {"method": method, "seeds": [c["seed"] for c in cells], "score": spread(c["score"] for c in cells),
               "interval": mean_interval(cells), "calls": spread(c["compile_calls"] for c in cells),
               "tokens": spread(c["compile_tokens"] for c in cells),
               "wall": spread(c["compile_seconds"] for c in cells), "resumed": any(c["resumed"] for c in cells),
               "regret": regret(rows) if method != "zero-shot" else None, "cells": rows,
               "vs_dspy": None, "call_share": None, "optimize": sorted({code_label(c) for c in cells})}
    if dspy_cells and method != "dspy":
        # on the seeds both have (a seed-free method's one cell stands for every seed)
        seeds = {c["seed"] for c in dspy_cells}
        ours = cells if method in SEED_FREE else [c for c in cells if c["seed"] in seeds]
        theirs = [c for c in dspy_cells if method in SEED_FREE or c["seed"] in {o["seed"] for o in ours}]
        if ours and theirs:
            summary["vs_dspy"] = mean_difference(theirs, ours)
            summary["vs_dspy_seeds"] = len(theirs)
            dspy_calls = statistics.fmean(c["compile_calls"] for c in theirs)
            calls = statistics.fmean(c["compile_calls"] for c in ours)
            summary["call_share"] = calls / dspy_calls if dspy_calls else None
    return summary


def summarize(results: dict[str, dict[str, list[dict]]]) -> dict[str, dict]:
    """Every figure the tables show, per task and method, computed from the result files alone."""
    out = {}
    for task, by_method in results.items():
        first = next(iter(by_method.values()))[0]
        out[task] = {"metric": first["metric"], "ranking": first["output"] == kinds.RANKING.name,
                     "test": len(first["gold"]), "labelled": first["labelled"],
                     "methods": {m: method_summary(by_method, m) for m in METHODS if by_method.get(m)}}
    return out


def targets(summary: dict[str, dict]) -> list[dict]:
    """Issue 14's targets, each with what was measured and whether it is met."""
    label_tasks = {t: s for t, s in summary.items() if not s["ranking"] and "lmprog" in s["methods"]}
    rows = []
    if label_tasks:
        regrets = [s["methods"]["lmprog"]["regret"] for s in label_tasks.values()]
        cells = sum(r["cells"] for r in regrets)
        worse, below = sum(r["worse"] for r in regrets), sum(r["below"] for r in regrets)
        rows.append({"target": "lmprog below zero-shot by more than its paired interval", "goal": "0 of 15",
                     "measured": f"{worse} of {cells} cells ({below} below at all)",
                     "met": worse == 0 if cells else None})
        floor_cells = sum(r["floor_cells"] for r in regrets)
        below_floor = sum(r["below_floor"] for r in regrets)
        rows.append({"target": "lmprog below the supervised floor by more than its paired interval",
                     "goal": "0 of 15", "measured": f"{below_floor} of {floor_cells} cells",
                     "met": below_floor == 0 if floor_cells else None})
        rows += dspy_targets(label_tasks)
        for task, s in label_tasks.items():
            calls = s["methods"]["lmprog"]["calls"][0]
            rows.append({"target": f"{task}: lmprog compile calls", "goal": f"<= ~{CALLS_TODAY}",
                         "measured": f"{calls:,.0f} per compile", "met": calls <= CALLS_TODAY})
    for task, s in summary.items():
        if s["ranking"] and "lmprog" in s["methods"] and s["methods"]["lmprog"]["cells"]:
            rows.append(floor_target(task, s))
    return rows


def dspy_targets(label_tasks: dict[str, dict]) -> list[dict]:
    rows, met = [], 0
    for task, s in label_tasks.items():
        lmprog_summary = s["methods"]["lmprog"]
        diff, share = lmprog_summary["vs_dspy"], lmprog_summary["call_share"]
        if diff is None:
            continue
        ok = diff.value * 100 >= TARGET_POINTS and share is not None and share <= TARGET_CALL_SHARE
        met += ok
        measured = f"{diff.describe()} at {share:.0%} of DSPy's calls" if share is not None else diff.describe()
        rows.append({"target": f"{task}: mean vs DSPy", "goal": f">= +{TARGET_POINTS:.0f} points at <= "
                     f"{TARGET_CALL_SHARE:.0%} of its calls",
                     "measured": f"{measured} ({lmprog_summary['vs_dspy_seeds']} seeds both ran)", "met": ok})
    if rows:
        rows.append({"target": "data sets where lmprog >= DSPy + 5 points at <= 50% of its calls",
                     "goal": "2 of 3", "measured": f"{met} of {len(rows)}", "met": met >= min(2, len(rows))})
    return rows


def floor_target(task: str, s: dict) -> dict:
    rows = s["methods"]["lmprog"]["cells"]
    diffs = [row["floor"] for row in rows if row["floor"] is not None]
    worse = sum(d.verdict == intervals.WORSE for d in diffs)
    mean = statistics.fmean(d.value for d in diffs) if diffs else None
    floor = s["methods"].get("floor")
    measured = (f"mean {mean * 100:+.1f} points over {len(diffs)} seed(s); below by more than the paired "
                f"interval in {worse}" if mean is not None else "no floor cell")
    if floor is not None:
        measured += f"; floor {floor['interval'].describe()}"
    return {"target": f"{task}: compiled IReRa vs the raw-input retrieval floor ({s['metric'].upper()})",
            "goal": "at or above", "measured": measured, "met": None if mean is None else mean >= 0 and worse == 0}


# ---------------------------------------------------------------------------------------------- tables


def method_name(method: str, ranking: bool) -> str:
    if method == "floor":
        return "floor: retriever, raw input" if ranking else "floor: TF-IDF + LR"
    return {"dspy": "DSPy BFSRS"}.get(method, method)


def points(value: float | None, sign: bool = False) -> str:
    return "–" if value is None else f"{value * 100:{'+' if sign else ''}.1f}"


def interval_points(interval) -> str:
    if interval is None or interval.value is None:
        return "–"
    if interval.low is None:
        return points(interval.value)
    return f"[{points(interval.low)}, {points(interval.high)}]"


def difference_text(diff: intervals.Difference | None) -> str:
    if diff is None or diff.value is None:
        return "–"
    mark = {intervals.BETTER: " better", intervals.WORSE: " WORSE"}.get(diff.verdict, "")
    return f"{diff.value * 100:+.1f} [{diff.low * 100:+.1f}, {diff.high * 100:+.1f}]{mark}"


def regret_text(r: dict | None) -> str:
    if r is None or not r["cells"]:
        return "–"
    shortfall = f" by {r['mean_shortfall'] * 100:.1f} (max {r['max_shortfall'] * 100:.1f})" if r["below"] else ""
    return f"{r['below']}/{r['cells']}{shortfall} · {r['worse']}"


def number(pair: tuple[float, float], resumed: bool = False) -> str:
    mean, std = pair
    return f"{mean:,.0f} ± {std:,.0f}" + ("*" if resumed else "")


def methods_table(summary: dict[str, dict], title: str) -> Table:
    table = Table(title=title)
    table.add_column("data set", min_width=12)
    table.add_column("method", min_width=12)
    for column in ("seeds", "test score ± std\n[95% CI of mean]", "below zero-shot\n· beyond CI",
                   "below floor\nbeyond CI", "mean vs DSPy\npaired [95% CI]", "compile calls", "calls vs\nDSPy",
                   "compile tokens", "compile\nwall s"):
        table.add_column(column, justify="right")
    for task, s in summary.items():
        for i, (method, m) in enumerate(s["methods"].items()):
            r = m["regret"]
            table.add_row(f"{task}\n{s['metric']}, n={s['test']}" if i == 0 else "",
                          method_name(method, s["ranking"]), str(len(m["seeds"])),
                          f"{m['score'][0] * 100:.1f} ± {m['score'][1] * 100:.1f}\n{interval_points(m['interval'])}",
                          regret_text(r), f"{r['below_floor']}/{r['floor_cells']}" if r and method != "floor" else "–",
                          difference_text(m["vs_dspy"]), number(m["calls"]),
                          f"{m['call_share']:.0%}" if m["call_share"] is not None else "–",
                          f"{m['tokens'][0]:,.0f}", f"{m['wall'][0]:,.0f}" + ("*" if m["resumed"] else ""))
        table.add_section()
    return table


def cells_table(summary: dict[str, dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("data set", "method", "seed", "test score [95% CI]", "vs zero-shot", "vs floor",
                   "vs DSPy (same seed)", "chosen", "compile calls", "compile s", "errors"):
        left = column in ("data set", "method")
        table.add_column(column, justify="left" if left else "right", min_width=10 if left else None)
    for task, s in summary.items():
        for method, m in s["methods"].items():
            rows, seed_label = m["cells"], None
            if len(rows) > 1 and all(r["cell"]["answers"] == rows[0]["cell"]["answers"] for r in rows):
                rows, seed_label = rows[:1], "all"  # the floor gives the same answers whatever the seed
            for row in rows:
                cell = row["cell"]
                table.add_row(task, method_name(method, s["ranking"]), seed_label or str(cell["seed"]),
                              f"{points(cell['score'])} {interval_points(row['interval'])}",
                              difference_text(row["zero-shot"]), difference_text(row["floor"]),
                              difference_text(row["dspy"]), chosen(cell), f"{cell['compile_calls']:,}",
                              f"{cell['compile_seconds']:,.0f}" + ("*" if cell["resumed"] else ""),
                              str(cell["errors"]))
        table.add_section()
    return table


def chosen(cell: dict) -> str:
    """Which program lmprog's compile shipped (its own words), or – for the other methods."""
    compiled = cell.get("compiled") or {}
    why = (compiled.get("optimizer") or {}).get("why") or {}
    return str(why.get("chosen") or compiled.get("program") or "–")


def targets_table(rows: list[dict]) -> Table:
    table = Table(title="issue 14's targets")
    for column in ("target", "goal", "measured", "met"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["target"], row["goal"], row["measured"],
                      {True: "yes", False: "NO", None: "–"}[row["met"]])
    return table


def print_tables(summary: dict[str, dict], console: Console, *, model: str) -> None:
    if not summary:
        console.print("no finished cells yet")
        return
    console.print(methods_table(summary, f"compile from the same labelled examples: {model} (scores in points; "
                                         "± std over seeds; CI over test examples)"))
    console.print(cells_table(summary, "every cell: score and paired differences (points, 95% CI)"))
    rows = targets(summary)
    if rows:
        console.print(targets_table(rows))
    stale = {task: s["methods"]["lmprog"]["optimize"] for task, s in summary.items() if "lmprog" in s["methods"]}
    commits = sorted({c for values in stale.values() for c in values})
    console.print(
        "Below zero-shot: cells scoring under zero-shot on test / cells, by the mean (max) shortfall in points · "
        "cells below it beyond the paired 95% interval (the interval of the difference is all below 0). Below floor: cells under the floor beyond the paired "
        "interval. vs DSPy: the mean over seeds minus DSPy's, paired on the test examples. Calls count every LM "
        "request the compile made (ledger hits within it included); tokens are what its calls paid for; * = a "
        "cell resumed after an interruption (its wall time is too short). Wall times are from a shared 2-core "
        "machine." + (f" lmprog cells ran lmprog/optimize at: {', '.join(commits)} (the last commit touching it when "
                      "the process started, +diff: uncommitted changes to lmprog in the tree)." if commits else ""))


# ---------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm", default="local/smollm2")
    parser.add_argument("--api-base", default=None, help="server URL for an OpenAI-compatible model")
    parser.add_argument("--task", default=None, help="task files or example names, comma-separated "
                        f"(default: {','.join(LABEL_TASKS)}; with --irera: {','.join(IRERA_TASKS)})")
    parser.add_argument("--irera", action="store_true", help="the Infer-Retrieve-Rank tasks (esco_tech, esco_house)")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--labelled", type=int, default=50, help="labelled examples: the first N of the train file")
    parser.add_argument("--test", type=int, default=100, help="test examples scored per cell (the first N)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--retriever", default="bm25", help="Infer-Retrieve-Rank's retriever: bm25 or dense")
    parser.add_argument("--methods", default=None, help="run only these methods' cells (tables show every "
                        f"finished cell; default: {','.join(METHODS)}; with --irera: {','.join(IRERA_METHODS)})")
    parser.add_argument("--rerun", default="", help="methods whose selected cells are deleted (result and ledger) "
                        "and run afresh, e.g. lmprog after lmprog's compile changed")
    parser.add_argument("--table-only", action="store_true", help="print the tables of finished cells, run nothing")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of result files")
    parser.add_argument("--ledgers", type=Path, default=LEDGERS, help="folder of the cells' ledgers")
    parser.add_argument("--width", type=int, default=200, help="console width of the tables")
    args = parser.parse_args(argv)
    args.tasks = [t for t in (args.task or ",".join(IRERA_TASKS if args.irera else LABEL_TASKS)).split(",") if t]
    args.seed_list = [int(s) for s in args.seeds.split(",") if s != ""]
    args.method_list = [m for m in (args.methods or ",".join(IRERA_METHODS if args.irera else METHODS)).split(",")
                        if m]
    unknown = set(args.method_list) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; use {', '.join(METHODS)}")
    return args


def run_all(args, console: Console) -> list[str]:
    """Every selected cell, seeds outermost (an interrupted run already has a first seed of every task)."""
    failed = []
    benches = {spec: load_task(spec, args.labelled, args.test) for spec in args.tasks}
    for method in [m for m in args.rerun.split(",") if m]:
        for bench in benches.values():
            forget(bench, method, [0] if method in SEED_FREE else args.seed_list, args, console)
    for seed in args.seed_list:
        for bench in benches.values():
            for method in args.method_list:
                if method in SEED_FREE and seed != args.seed_list[0]:
                    continue
                try:
                    run_cell(bench, method, 0 if method in SEED_FREE else seed, args, console)
                except KeyboardInterrupt:
                    raise
                except Exception:  # noqa: BLE001 - one failed cell must not stop a night's benchmark
                    console.print_exception(max_frames=8)
                    failed.append(f"{bench.name}/{method}/{seed}")
    return failed


def task_names(specs: Sequence[str]) -> list[str]:
    return [spec if spec in LABEL_TASKS + IRERA_TASKS else task_file(spec).name for spec in specs]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger().addFilter(_QuietCopies())
    console = Console(width=args.width)
    args.code_at_start = None if args.table_only else code_version()
    failed = [] if args.table_only else run_all(args, console)
    results = load_results(args.results, model=args.lm, test=args.test, tasks=task_names(args.tasks),
                           seeds=args.seed_list)
    print_tables(summarize(results), console, model=args.lm)
    if failed:
        console.print(f"failed cells: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
