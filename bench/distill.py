"""Distillation benchmark: compiled program vs distilled classifier vs cascade, on held-out gold.

    python bench/distill.py                               # the examples, embedded SmolLM2, from their ledgers
    python bench/distill.py --datasets banking77 --timed 20

For each example: its compiled program (examples/NAME/compiled.json) pseudo-labels
examples/NAME/unlabeled.jsonl; the classifier is trained on that; the example's test.jsonl is
split in two (seeded): the first half is the dev set the cascade threshold is chosen on (at most
20% of inputs to the LM), the second half is held out and scores all three. LM calls come from a
copy of the example's committed ledger (paid for only when missing).

Throughput is measured in this run, on this machine: the classifier in batches over the held-out
texts, the program on ``--timed`` held-out texts one at a time with the ledger off (real LM
calls). Cost per 1,000 predictions is the ledger's recorded USD (0 for the embedded model).
Targets: classifier >= 97% of the program's score at >= 10,000x its throughput; cascade within
1 point of the program with <= 20% of inputs sent to the LM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import lmprog  # noqa: E402
from lmprog.run import run_one  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("sms_spam", "banking77", "nlupp", "esco_tech")
MAX_LM_FRACTION = 0.2


def split(examples: list, seed: int = 0) -> tuple[list, list]:
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    half = len(shuffled) // 2
    return shuffled[:half], shuffled[half:]


def timed_program(compiled, texts: list[dict], model: str) -> float:
    """Seconds per prediction of the program, one input at a time, every call paid (ledger off)."""
    lm = lmprog.make_lm(model, cache="off")
    started = time.perf_counter()
    for row in texts:
        run_one(compiled.program, row, lm)
    return (time.perf_counter() - started) / len(texts)


def timed_classifier(distilled, rows: list[dict], minimum: float = 2.0, batch: int = 1000) -> float:
    """Predictions per second of the classifier in batches of ``batch`` (the held-out rows repeated),
    over at least ``minimum`` seconds."""
    rows = (rows * (batch // len(rows) + 1))[:batch]
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < minimum:
        distilled.predict(rows)
        done += len(rows)
    return done / elapsed


def bench(name: str, model: str, timed: int, threads: int, folder: Path) -> dict:
    example = REPO / "examples" / name
    compiled = lmprog.load(example / "compiled.json")
    task = compiled.task
    ledger = folder / f"{name}.db"
    shutil.copy(REPO / "cache" / "examples" / f"{name}.db", ledger)
    lm = lmprog.make_lm(model, ledger=ledger)
    dev, held_out = split(list(lmprog.Task.from_toml(example / "task.toml").load("test")))
    distilled = lmprog.distill(compiled, example / "unlabeled.jsonl", lm=lm, gold=dev, threads=threads)
    cascade = lmprog.Cascade(distilled, compiled, lm=lm, max_lm_fraction=MAX_LM_FRACTION, threads=threads)
    rows = [dict(ex.inputs()) for ex in held_out]
    gold = [ex.get(task.output_field) for ex in held_out]
    kind = compiled.output
    ranked = kind.ranked
    program_answers = [answer.prediction.get(kind.field) if answer.ok else None
                       for answer in (run_one(compiled.program, row, lm) for row in rows)]

    def headline(predicted):
        return kind.headline_value(gold, predicted, labels=task.labels.names, metric=task.metric)
    cascade_rows = cascade.answer_rows(rows)
    program_seconds = timed_program(compiled, rows[:timed], model)
    classifier_pps = timed_classifier(distilled, rows)
    to_lm = sum(r["source"] == "program" for r in cascade_rows) / len(rows)
    usd = distilled.throughput.get("program_usd_per_1000")
    return {
        "dataset": name, "metric": task.metric if not ranked else "rp@10", "dev": len(dev), "held_out": len(rows),
        "pseudo_labels": distilled.training["kept"], "classes": len(distilled.classes),
        "program": headline(program_answers),
        "classifier": headline(distilled.predict(rows)),
        "cascade": headline([r[kind.field] for r in cascade_rows]),
        "cascade_lm_fraction": to_lm, "threshold": cascade.threshold,
        "program_pps": 1 / program_seconds, "classifier_pps": classifier_pps,
        "cascade_pps": 1 / (1 / classifier_pps + to_lm * program_seconds),
        "program_usd_per_1000": usd, "cascade_usd_per_1000": None if usd is None else usd * to_lm,
        "timed_program_predictions": len(rows[:timed]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="program vs distilled classifier vs cascade on held-out gold")
    parser.add_argument("--lm", default="local/smollm2")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--timed", type=int, default=10, help="held-out texts the program is timed on (paid calls)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    console = Console(width=150)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.datasets.split(","):
            console.log(f"{name} ...")
            results.append(bench(name, args.lm, args.timed, args.threads, Path(folder)))
    table = Table(title=f"distill: {args.lm}, held-out gold (half of each example's test set)")
    for column in ("data set", "metric", "", "score", "vs program", "to LM", "predictions/s", "x program",
                   "USD / 1,000"):
        table.add_column(column, justify="left" if column in ("data set", "metric", "") else "right")
    for r in results:
        for who in ("program", "classifier", "cascade"):
            score, usd = r[who], r.get(f"{who}_usd_per_1000", 0.0)
            fraction = {"program": 1.0, "classifier": 0.0, "cascade": r["cascade_lm_fraction"]}[who]
            table.add_row(r["dataset"] if who == "program" else "", r["metric"] if who == "program" else "", who,
                          f"{score:.3f}", "–" if who == "program" else
                          (f"{score / r['program']:.0%}" if who == "classifier" and r["program"] else
                           f"{100 * (score - r['program']):+.1f} pts"),
                          f"{fraction:.0%}", f"{r[f'{who}_pps']:,.1f}",
                          f"{r[f'{who}_pps'] / r['program_pps']:,.0f}x", "unpriced" if usd is None else f"${usd:,.4f}")
    console.print(table)
    console.print("Targets: classifier >= 97% of the program's score at >= 10,000x its predictions/s; cascade within "
                  "1 point of the program at <= 20% of inputs to the LM. Program timed on "
                  f"{results[0]['timed_program_predictions'] if results else 0} held-out texts one at a time (ledger "
                  "off), the classifier in batches; a shared 2-core machine.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
