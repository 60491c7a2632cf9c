"""Compile benchmark: zero-shot vs DSPy's BootstrapFewShotWithRandomSearch vs lmprog.compile.

    python bench/compile.py                                  # embedded SmolLM2, 3 data sets x 3 seeds
    python bench/compile.py --lm openai/gpt-4o-mini          # any litellm model
    python bench/compile.py --datasets sms_spam --seeds 0    # a quick look

Data: the examples' tasks (examples/sms_spam, banking77 with 5 intents, nlupp with 12 intents,
multi-label). Every method gets the same 50 labelled examples (examples/*/train.jsonl), split per
seed into 25 train and 25 dev, and is scored on the first ``--test`` examples of test.jsonl
(accuracy; micro-F1 for nlupp). DSPy runs with its defaults (16 candidate programs, up to 4
bootstrapped and 16 labelled demos) on the same lmprog Classify module, so prompts and output
constraints are identical; only the optimizer differs.

Each (data set, method, seed) cell has its own ledger under bench/.ledgers, so its LM calls and
tokens are exactly what that method spent (compile + test), and a finished cell's figures are
kept in bench/.results: an interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import lmprog  # noqa: E402
import lmprog.outputs  # noqa: E402
from lmprog.metrics import accuracy, f1_multilabel  # noqa: E402
from lmprog.run import open_run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
DATASETS = ("sms_spam", "banking77", "nlupp")
METHODS = ("zero-shot", "dspy", "lmprog")


def load(name: str, test_size: int):
    task = lmprog.Task.from_toml(REPO / "examples" / name / "task.toml")
    return task, task.load("train"), list(task.load("test"))[:test_size]


def program_for(task):
    return lmprog.MultiLabelClassify(task) if task.multi_label else lmprog.Classify(task)


def test_score(task, program, test, threads: int) -> float:
    """Accuracy (single-label) or micro-F1 (multi-label) on the test examples."""
    def predict(example):
        try:
            return program(**example.inputs()).get(task.output_field)
        except lmprog.errors.LmprogError:
            raise
        except Exception:  # noqa: BLE001 - a failed answer counts as wrong
            return [] if task.multi_label else None

    predictions = dspy.Parallel(num_threads=threads, disable_progress_bar=True)([(predict, {"example": ex})
                                                                                for ex in test])
    gold = [ex.get(task.output_field) for ex in test]
    if task.multi_label:
        return f1_multilabel(gold, [p or [] for p in predictions], average="micro", labels=task.labels.names)
    return accuracy(gold, predictions)


def requests_made(ledger, run_id: str | None) -> int:
    """Every LM request a run made: paid calls plus ledger hits."""
    if run_id is None:
        return 0
    stats = ledger.stats(run_id=run_id)
    return stats["calls"] + stats["hits"]


def compile_tokens(ledger_path: Path) -> int:
    """Tokens of every call in a cell's ledger outside its test runs: what the compile paid for, over
    every process that worked on it (a resumed cell's earlier calls are mere hits in its last run,
    so that run's own figures would undercount them)."""
    ledger = lmprog.Ledger(ledger_path)
    try:
        test_runs = [run["id"] for run in ledger.runs(limit=None) if run["command"] == "bench test"]
        return _tokens(ledger.stats()) - sum(_tokens(ledger.stats(run_id=run)) for run in test_runs)
    finally:
        ledger.close()


def _tokens(stats: dict) -> int:
    return stats["prompt_tokens"] + stats["completion_tokens"]


def ledger_path_for(name: str, method: str, seed: int, model: str) -> Path:
    return HERE / ".ledgers" / f"{name}-{method}-{seed}-{model.replace('/', '_')}.db"


def run_cell(name: str, method: str, seed: int, model: str, test_size: int, threads: int) -> dict:
    task, labelled, test = load(name, test_size)
    train, dev = labelled.split(train=25, dev=25, seed=seed)
    ledger_path = ledger_path_for(name, method, seed, model)
    ledger_path.parent.mkdir(exist_ok=True)
    lm = lmprog.make_lm(model, ledger=ledger_path)
    resumed = lm.ledger.stats()["calls"] > 0  # an interrupted cell: its wall time would be too short
    program = program_for(task)
    program.set_lm(lm)
    compile_run, started = None, time.perf_counter()
    if method == "dspy":
        from dspy.teleprompt import BootstrapFewShotWithRandomSearch

        # DSPy's optimizers copy the program without its LM: the LM comes from the context, as in DSPy's docs.
        kind = lmprog.outputs.of(program)
        with open_run(lm, "bench dspy compile", {"dataset": name, "seed": seed}) as run, dspy.context(lm=lm):
            compile_run = run.run_id
            optimizer = BootstrapFewShotWithRandomSearch(
                metric=lambda example, prediction, trace=None: kind.example_score(example.get(kind.field),
                                                                                  prediction.get(kind.field)),
                num_threads=threads)
            program = optimizer.compile(program, trainset=list(train), valset=list(dev))
    elif method == "lmprog":
        compiled = lmprog.compile(program, train, dev, lm=lm, seed=seed, threads=threads)
        compile_run, program = compiled.run_id, compiled.program
        program.set_lm(lm)
    compile_seconds = time.perf_counter() - started
    with open_run(lm, "bench test", {"dataset": name, "seed": seed}) as run, dspy.context(lm=lm):
        test_run = run.run_id
        score = test_score(task, program, test, threads)
    return {"dataset": name, "method": method, "seed": seed, "model": model, "test": len(test), "score": score,
            "compile_calls": requests_made(lm.ledger, compile_run), "compile_seconds": compile_seconds,
            "test_calls": requests_made(lm.ledger, test_run), "resumed": resumed}


def cell(name: str, method: str, seed: int, args, console: Console, run: bool = True) -> dict | None:
    path = HERE / ".results" / f"{name}-{method}-{seed}-{args.lm.replace('/', '_')}-{args.test}.json"
    if path.exists():
        result = json.loads(path.read_text())
    elif not run:
        return None
    else:
        console.log(f"{name} · {method} · seed {seed} ...")
        result = run_cell(name, method, seed, args.lm, args.test, args.threads)
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(result, indent=1))
        console.log(f"{name} · {method} · seed {seed}: score {result['score']:.3f}, "
                    f"{result['compile_calls']} compile calls, {result['compile_seconds']:.0f} s")
    # Always read from the cell's ledger, which is kept with its result.
    result["compile_tokens"] = compile_tokens(ledger_path_for(name, method, seed, args.lm))
    return result


def mean_std(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    mean = statistics.fmean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description="zero-shot vs DSPy BootstrapFewShotWithRandomSearch vs lmprog")
    parser.add_argument("--lm", default="local/smollm2")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--test", type=int, default=100, help="test examples scored per cell")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--methods", default=",".join(METHODS), help="run only these methods' cells (the table "
                        "still shows every finished cell)")
    parser.add_argument("--table-only", action="store_true", help="print the table of finished cells, run nothing")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.datasets.split(",")
    to_run = set(args.methods.split(","))
    console = Console()
    # Seeds outermost, so an interrupted run already has a first seed of every data set.
    results: dict[str, dict[str, list[dict]]] = {name: {method: [] for method in METHODS} for name in names}
    for seed in seeds:
        for name in names:
            for method in METHODS:
                # zero-shot has nothing to learn: one run serves every seed (std 0)
                found = cell(name, method, 0 if method == "zero-shot" else seed, args, console,
                             run=not args.table_only and method in to_run)
                if found is not None:
                    results[name][method].append(found)
    rows = [(name, by_method) for name, by_method in results.items() if all(by_method.values())]

    seeds_done = sorted({r["seed"] for _, by_method in rows for cells in by_method.values() for r in cells})
    table = Table(title=f"compile from 50 labels: {args.lm}, test n={args.test}, seeds {seeds_done} (mean ± std)")
    for column in ("data set", "method", "test score", "vs DSPy", "compile calls", "calls vs DSPy",
                   "compile tokens", "compile s"):
        table.add_column(column, justify="left" if column in ("data set", "method") else "right")
    for name, by_method in rows:
        dspy_score = statistics.fmean(r["score"] for r in by_method["dspy"])
        dspy_calls = statistics.fmean(r["compile_calls"] for r in by_method["dspy"])
        for method in METHODS:
            cells = by_method[method]
            calls = statistics.fmean(r["compile_calls"] for r in cells)
            table.add_row(name, method, mean_std([r["score"] for r in cells], 100),
                          f"{(statistics.fmean(r['score'] for r in cells) - dspy_score) * 100:+.1f} pts",
                          mean_std([r["compile_calls"] for r in cells], digits=0),
                          f"{calls / dspy_calls:.0%}" if dspy_calls else "-",
                          mean_std([r["compile_tokens"] for r in cells], digits=0),
                          mean_std([r["compile_seconds"] for r in cells], digits=0)
                          + ("*" if any(r.get("resumed") for r in cells) else ""))
    console.print(table)
    console.print("Target: lmprog >= DSPy + 5 points at <= 50% of DSPy's compile calls. Calls count every "
                  "LM request the method made (ledger hits within its own run included); wall time is on a "
                  "shared 2-core machine; * = a cell resumed after an interruption (its wall time is too short).")


if __name__ == "__main__":
    main()
