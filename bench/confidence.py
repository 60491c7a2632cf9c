"""Label probabilities on the embedded model: what a confident answer costs next to a plain one.

    python bench/confidence.py                       # sms_spam, banking77 (5 labels), banking77 (all 77)
    python bench/confidence.py --n 10 --tasks banking77-77 --json bench/.results/confidence.json

For each task, Classify (zero-shot, and with 4 demos as a compiled program has) answers the same
test texts twice on ``local/smollm2`` with the ledger off (every call made): a plain answer
(``logprobs=None``) and an answer with label probabilities (``logprobs=True``: the distribution over
the label list measured on the same model state, ``confidence_source="label_probabilities"``).
Passes alternate (plain then measured, then measured then plain) so the KV-cache prefix reuse and
any drift in machine load fall on both alike; each call sees the same shared prefix (the system
prompt) from the call before it. Times are process CPU seconds (this process's llama.cpp threads;
``--threads 1`` by default, so a busy machine inflates no spin-waiting) and wall seconds. On a shared
machine a single call's time varies a lot (the prompt's batch dominates it), so the measurement's own CPU
time (the logits kept while answering and the scoring, timed inside the engine) is reported too: "ratio
accounted" is 1 + that time over the plain answers' time, the overhead without the noise.
Target: the measured answer at most 1.5x the plain one (both ratios). Also reported: whether both passes gave the
same labels (they should: the grammar and greedy decoding are unchanged), accuracy, and the mean
confidence of right and wrong answers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TARGET = 1.5


def load_task(name: str):
    """(task, demos, test rows) for an example name or ``banking77-77`` (all intents, from ../shared/data)."""
    import lmprog

    if name == "banking77-77":
        labels = json.loads((SHARED / "banking77" / "categories.json").read_text())
        task = lmprog.Task(inputs={"text": "the customer's message"}, labels=labels, name="banking77-77",
                           instructions="Which intent does this online-banking customer message express?")
        with (SHARED / "banking77" / "test.csv").open() as handle:
            rows = [{"text": r["text"], "label": r["category"]} for r in csv.DictReader(handle)]
        with (SHARED / "banking77" / "train.csv").open() as handle:
            train = [{"text": r["text"], "label": r["category"]} for r in csv.DictReader(handle)]
        rows = rows[::max(1, len(rows) // 200)]  # spread over the intents (the file is sorted by intent)
        train = train[::max(1, len(train) // 50)]
        demos = [_example(r) for r in train[:4]]
        return task, demos, rows
    task = lmprog.Task.from_toml(REPO / "examples" / name / "task.toml")
    demos = list(task.load("train"))[:4]
    rows = [json.loads(line) for line in (REPO / "examples" / name / "test.jsonl").open() if line.strip()]
    return task, demos, rows


def _example(row: dict):
    import dspy

    return dspy.Example(text=row["text"], label=row["label"]).with_inputs("text")


SPENT = {"measuring": 0.0}  # CPU seconds inside the measurement (the logits processor and the scorer)


def instrument() -> None:
    """Count the CPU time the measurement itself takes: the logits kept while answering, and the scoring."""
    from lmprog.lm import local_judgments

    def timed(function):
        def wrapper(*args, **kwargs):
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                SPENT["measuring"] += time.process_time() - started
        return wrapper

    local_judgments.Scorer.measure = timed(local_judgments.Scorer.measure)
    local_judgments.LogitRows.__call__ = timed(local_judgments.LogitRows.__call__)


def one_pass(program, rows: list[dict], lm) -> list[dict]:
    import dspy

    answers = []
    with dspy.context(lm=lm):
        for row in rows:
            cpu, wall, spent = time.process_time(), time.perf_counter(), SPENT["measuring"]
            prediction = program(text=row["text"])
            answers.append({"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall,
                            "measuring": SPENT["measuring"] - spent,
                            "label": prediction.label, "gold": row["label"], "confidence": prediction.confidence,
                            "source": prediction.confidence_source})
    return answers


def measure(task, demos: list, rows: list[dict], lm) -> dict:
    import lmprog

    plain, measured = lmprog.Classify(task), lmprog.Classify(task, logprobs=True)
    for program in (plain, measured):
        program.predict.demos = list(demos)
    results: dict[str, list[dict]] = {"plain": [], "measured": []}
    for order in (("plain", "measured"), ("measured", "plain")):
        for name in order:
            results[name] += one_pass(plain if name == "plain" else measured, rows, lm)
    return summary(results)


def summary(results: dict[str, list[dict]]) -> dict:
    plain, measured = results["plain"], results["measured"]
    right = [a["confidence"] for a in measured if a["label"] == a["gold"] and a["confidence"] is not None]
    wrong = [a["confidence"] for a in measured if a["label"] != a["gold"] and a["confidence"] is not None]
    total = {kind: {name: sum(a[kind] for a in answers) for name, answers in results.items()}
             for kind in ("cpu", "wall")}
    return {
        "calls": len(plain),
        "plain_cpu_s": statistics.median(a["cpu"] for a in plain),
        "measured_cpu_s": statistics.median(a["cpu"] for a in measured),
        "ratio_cpu": total["cpu"]["measured"] / total["cpu"]["plain"],
        "ratio_wall": total["wall"]["measured"] / total["wall"]["plain"],
        "measuring_cpu_s": statistics.median(a["measuring"] for a in measured),
        "ratio_accounted": 1 + sum(a["measuring"] for a in measured) / total["cpu"]["plain"],
        "same_labels": sum(p["label"] == m["label"] for p, m in zip(plain, measured)) / len(plain),
        "accuracy": sum(a["label"] == a["gold"] for a in measured) / len(measured),
        "with_confidence": sum(a["source"] == "label_probabilities" for a in measured) / len(measured),
        "confidence_right": statistics.mean(right) if right else None,
        "confidence_wrong": statistics.mean(wrong) if wrong else None,
    }


def table(figures: dict[str, dict]) -> str:
    header = ("| task | demos | calls | plain CPU s (median) | with probabilities CPU s | measuring CPU s | "
              "ratio CPU (total) | ratio accounted | ratio wall | same labels | accuracy | "
              "mean confidence right / wrong |")
    lines = [header, "|" + "---|" * 12]
    for key, f in figures.items():
        task, demos = key.rsplit("/", 1)
        right = "-" if f["confidence_right"] is None else f"{f['confidence_right']:.2f}"
        wrong = "-" if f["confidence_wrong"] is None else f"{f['confidence_wrong']:.2f}"
        lines.append(f"| {task} | {demos} | {f['calls']} | {f['plain_cpu_s']:.2f} | {f['measured_cpu_s']:.2f} | "
                     f"{f['measuring_cpu_s']:.3f} | {f['ratio_cpu']:.2f}x | {f['ratio_accounted']:.2f}x | "
                     f"{f['ratio_wall']:.2f}x | {f['same_labels']:.0%} | {f['accuracy']:.0%} | "
                     f"{right} / {wrong} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="sms_spam,banking77,banking77-77")
    parser.add_argument("--n", type=int, default=20, help="test texts per task (each answered twice per pass)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (LMPROG_THREADS)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    os.environ["LMPROG_THREADS"] = str(args.threads)
    import lmprog

    instrument()
    lm = lmprog.make_lm("local/smollm2", cache="off")
    figures = {}
    for name in args.tasks.split(","):
        task, demos, rows = load_task(name)
        for shown in ([], demos):
            figures[f"{name}/{len(shown)}"] = measure(task, shown, rows[: args.n], lm)
            print(table(figures), flush=True)  # noqa: T201 - a bench script reports on stdout
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    worst = max(max(f["ratio_cpu"], f["ratio_accounted"]) for f in figures.values())
    verdict = "met" if worst <= TARGET else "MISSED"
    print(f"\nworst ratio {worst:.2f}x (target at most {TARGET}x): {verdict}")  # noqa: T201


if __name__ == "__main__":
    main()
