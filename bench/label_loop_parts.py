"""The three parts of bench/label_loop.py: suggest vs random, audit on flipped labels, estimate's coverage."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import numpy as np
from rich.table import Table

import lmprog
from lmprog import outputs
from lmprog.loop.active_testing import estimate_from, expected_scores, sampling_design
from lmprog.loop.queue import write_queue
from lmprog.supervised import answers_from, out_of_fold_proba, targets, text_pipeline

REPO = Path(__file__).resolve().parents[1]
BUDGETS = (10, 20, 40, 80)
FEATURES = ("tfidf", "embeddings")


# ------------------------------------------------------------------------------ suggest vs random


def classifier_score(train: list[dict], test: list[dict], task, features: str, encoder, seed: int = 0) -> float:
    """The plain classifier trained on ``train``, scored on ``test`` with the task's headline metric."""
    field = task.output_field
    gold = [r[field] for r in train]
    classes = sorted({label for g in gold for label in (g if task.multi_label else [g])})
    kind = outputs.for_task(task)
    if len(classes) < 2:
        answers = [classes if task.multi_label else classes[0]] * len(test)
    else:
        pipeline = text_pipeline(features, multi_label=task.multi_label, seed=seed)
        X, X_test = ([r["text"] for r in train], [r["text"] for r in test]) if features == "tfidf" else \
            (encoder([r["text"] for r in train]), encoder([r["text"] for r in test]))
        pipeline.fit(X, targets(gold, classes, task.multi_label))
        answers = answers_from(pipeline.predict_proba(X_test), classes, task.multi_label)
    return kind.headline_value([r[field] for r in test], answers, labels=task.labels.names, metric=task.metric)


def suggest_runs(pool: list[dict], task, encoder, seed: int, known: list[dict] = (),
                 **options) -> tuple[list[int], list[str]]:
    """The pool rows lmprog.suggest picks over the rounds (``known`` labelled from the start), in order, and the
    strategy of each round."""
    inputs = [{"text": r["text"]} for r in pool]
    chosen, strategies = [], []
    for budget in BUDGETS:
        found = lmprog.suggest(task, inputs, n=budget - len(chosen), labelled=[*known, *(pool[i] for i in chosen)],
                               seed=seed, embeddings=encoder, **options)
        chosen += [r.row for r in found.rows]
        strategies.append(found.strategy)
    return chosen, strategies


def suggest_part(console, data: dict, encoder, *, seeds: int) -> dict:
    train77, test77, names77 = data["banking77"]
    pool_nl, test_nl, labels_nl = data["nlupp"]
    tasks = {"banking77": (lmprog.Task(inputs={"text": "message"}, labels=names77, name="banking77"), train77, test77),
             "nlupp": (lmprog.Task(inputs={"text": "message"}, labels=labels_nl, multi_label=True, name="nlupp",
                                   metric="micro_f1"), pool_nl, test_nl)}
    results = {}
    for name, (task, pool, test) in tasks.items():
        scores = {(m, f, b): [] for m in ("random", "suggest") for f in FEATURES for b in BUDGETS}
        rounds = []
        for seed in range(seeds):
            picks = {"random": list(np.random.default_rng(seed).permutation(len(pool))[:BUDGETS[-1]])}
            picks["suggest"], strategies = suggest_runs(pool, task, encoder, seed)
            rounds.append(strategies)
            for method, rows in picks.items():
                for features in FEATURES:
                    for budget in BUDGETS:
                        chosen = [pool[i] for i in rows[:budget]]
                        scores[(method, features, budget)].append(classifier_score(chosen, test, task, features,
                                                                                   encoder, seed))
        results[name] = {"metric": task.metric, "strategies": rounds,
                         "scores": {f"{m}/{f}/{b}": v for (m, f, b), v in scores.items()}}
        console.print(suggest_table(name, task.metric, scores, rounds, seeds))
    return results


def suggest_table(name: str, metric: str, scores: dict, rounds: list, seeds: int) -> Table:
    table = Table(title=f"suggest vs random · {name} · {metric} of the plain classifier, mean ± sd over {seeds} "
                        f"seeds", title_justify="left")
    table.add_column("classifier")
    table.add_column("labels chosen by")
    for budget in BUDGETS:
        table.add_column(f"{budget}", justify="right")
    table.add_column("suggest@40 vs random@80", justify="right")
    for features in FEATURES:
        for method in ("random", "suggest"):
            cells = [f"{np.mean(scores[(method, features, b)]):.3f} ± {np.std(scores[(method, features, b)]):.3f}"
                     for b in BUDGETS]
            verdict = ""
            if method == "suggest":
                gap = np.mean(scores[("suggest", features, 40)]) - np.mean(scores[("random", features, 80)])
                verdict = f"{gap:+.3f} ({'met' if gap >= 0 else 'missed'})"
            table.add_row(features, method, *cells, verdict)
    table.caption = "suggest's strategy per round (10, 20, 40, 80): " + "; ".join(", ".join(r) for r in rounds[:1])
    return table


def committed(folder: Path, path: str) -> Path:
    """A copy of a file as committed (the working copy may be mid-change: replays write to ledgers)."""
    copy = folder / path.replace("/", "-")
    copy.write_bytes(subprocess.run(["git", "-C", str(REPO), "show", f"HEAD:{path}"], capture_output=True,
                                    check=True).stdout)
    return copy


def committed_example(folder: Path, name: str):
    """The example's compiled program and an LM replaying from a copy of its committed ledger."""
    compiled = lmprog.load(committed(folder, f"examples/{name}/compiled.json"))
    return compiled, compiled.make_lm(ledger=committed(folder, f"cache/examples/{name}.db"), cache="replay")


def program_part(console, data: dict, encoder, *, seeds: int, folder: Path) -> dict:
    """The committed banking77 example (5 intents): its 50 training labels known, the next 10-80 chosen from its
    400 unlabelled texts at random, by suggest, and by suggest guided by the compiled program (replayed from a
    copy of its ledger: the program's answers on those texts are there from distillation)."""
    example = REPO / "examples" / "banking77"
    compiled, lm = committed_example(folder, "banking77")
    gold = {r["text"]: r["label"] for part in data["banking77"][:2] for r in part}
    read = lambda name: [json.loads(line) for line in (example / name).read_text().splitlines()]  # noqa: E731
    pool = [dict(r, label=gold[r["text"]]) for r in read("unlabeled.jsonl")]
    known, test, task = read("train.jsonl"), read("test.jsonl"), compiled.task
    answers = compiled.use(lm).predict(test, threads=2)
    program_score = float(np.mean([a == r["label"] for a, r in zip(answers, test)]))
    scores = {(m, f, b): [] for m in ("random", "suggest", "suggest + program") for f in FEATURES for b in BUDGETS}
    for seed in range(seeds):
        picks = {"random": list(np.random.default_rng(seed).permutation(len(pool))[:BUDGETS[-1]]),
                 "suggest": suggest_runs(pool, task, encoder, seed, known)[0],
                 "suggest + program": suggest_runs(pool, task, encoder, seed, known, compiled=compiled, lm=lm,
                                                   threads=2)[0]}
        for (method, rows), features, budget in itertools.product(picks.items(), FEATURES, BUDGETS):
            train = known + [pool[i] for i in rows[:budget]]
            scores[(method, features, budget)].append(classifier_score(train, test, task, features, encoder, seed))
    table = Table(title=f"suggest with the compiled program · banking77 example (5 intents) · accuracy on its 200 "
                        f"test rows of the plain classifier on its 50 labels + N more · {seeds} seeds",
                  title_justify="left")
    for column in ("classifier", "next labels chosen by", *map(str, BUDGETS)):
        table.add_column(column, justify="left" if column in ("classifier", "next labels chosen by") else "right")
    for features, method in itertools.product(FEATURES, ("random", "suggest", "suggest + program")):
        table.add_row(features, method, *(f"{np.mean(scores[(method, features, b)]):.3f}" for b in BUDGETS))
    table.caption = (f"the compiled program itself (compiled from the 50 labels, local/smollm2, replayed): accuracy "
                     f"{program_score:.3f} on the same test rows")
    console.print(table)
    return {"program_score": program_score, "scores": {f"{m}/{f}/{b}": v for (m, f, b), v in scores.items()}}


# ------------------------------------------------------------------------------ audit


def flipped(rows: list[dict], labels: list[str], seed: int, size: int = 400, share: float = 0.1):
    rng = np.random.default_rng(seed)
    data = [dict(rows[i]) for i in rng.choice(len(rows), size=size, replace=False)]
    wrong = set(rng.choice(size, size=int(size * share), replace=False).tolist())
    for i in wrong:
        data[i]["label"] = str(rng.choice([label for label in labels if label != data[i]["label"]]))
    return data, wrong


def tfidf_cleanlab_flags(data: list[dict], labels: list[str], seed: int) -> set[int]:
    """cleanlab on the TF-IDF classifier's out-of-fold probabilities alone (the comparison row)."""
    from cleanlab.filter import find_label_issues

    classes = sorted({r["label"] for r in data})
    y = np.array([classes.index(r["label"]) for r in data])
    proba = out_of_fold_proba(text_pipeline(seed=seed), [r["text"] for r in data], np.array([r["label"] for r in data]),
                              multi_label=False, seed=seed)
    return set(np.flatnonzero(find_label_issues(y, proba)).tolist())


def precision_recall(flags: set[int], wrong: set[int]) -> tuple[float, float]:
    found = len(flags & wrong)
    return found / len(flags) if flags else 0.0, found / len(wrong)


def audit_part(console, data: dict, encoder, *, seeds: int) -> dict:
    train77, _, names77 = data["banking77"]
    sms, names_sms = data["sms_spam"]
    sets = {"banking77": (train77, names77), "sms_spam": (sms, names_sms)}
    table = Table(title="audit · 10% of 400 labels changed · mean over seeds", title_justify="left")
    for column in ("data", "method", "flagged", "precision", "recall", "target"):
        table.add_column(column, justify="left" if column in ("data", "method", "target") else "right")
    results, clean_tops = {}, {}
    for name, (rows, labels) in sets.items():
        task = lmprog.Task(inputs={"text": "message"}, labels=labels, name=name)
        ours, alone = [], []
        for seed in range(seeds):
            sample, wrong = flipped(rows, labels, seed)
            found = lmprog.audit(task, sample, seed=seed, embeddings=encoder)
            ours.append((len(found.flags), *precision_recall({f.row for f in found.flags}, wrong)))
            base = tfidf_cleanlab_flags(sample, labels, seed)
            alone.append((len(base), *precision_recall(base, wrong)))
        for method, runs in (("lmprog.audit", ours), ("cleanlab on TF-IDF alone", alone)):
            n, p, r = np.mean(runs, axis=0)
            met = "met" if p >= 0.7 and r >= 0.7 else "missed"
            table.add_row(name, method, f"{n:.1f}", f"{p:.2f}", f"{r:.2f}", met if method == "lmprog.audit" else "")
        results[name] = {"lmprog.audit": ours, "cleanlab_tfidf_alone": alone}
        clean = lmprog.audit(task, flipped(rows, labels, seed=100, share=0.0)[0], embeddings=encoder)
        clean_tops[name] = clean
    console.print(table)
    for name, clean in clean_tops.items():
        console.print(clean_table(name, clean))
        results[name]["unchanged_flags"] = [{"text": f.inputs["text"], "given": f.given, "suggested": f.suggested,
                                             "quality": f.quality} for f in clean.flags[:10]]
    return results


def clean_table(name: str, clean, top: int = 8) -> Table:
    table = Table(title=f"audit · top flags on 400 unchanged {name} rows ({len(clean.flags)} flagged)",
                  title_justify="left")
    for column in ("text", "given", "suggested", "quality"):
        table.add_column(column, justify="right" if column == "quality" else "left",
                         max_width=60 if column == "text" else None)
    for flag in clean.flags[:top]:
        table.add_row(flag.inputs["text"], str(flag.given), str(flag.suggested), f"{flag.quality:.3f}")
    return table


# ------------------------------------------------------------------------------ estimate


def simulate(predicted: np.ndarray, actual: np.ndarray, labels: int, repeats: int) -> dict:
    """Active testing and uniform sampling (without replacement, t interval with the finite-population
    correction), ``repeats`` times each: coverage of the true mean, mean width, bias."""
    from scipy import stats

    truth, rows = float(actual.mean()), len(actual)
    active, uniform = [], []
    for seed in range(repeats):
        design = sampling_design(predicted, labels, seed=seed)
        result = estimate_from(design, actual[design.draws])
        active.append((result.value, result.low, result.high, result.uniform_width))
        drawn = actual[np.random.default_rng(10_000 + seed).choice(rows, size=labels, replace=False)]
        finite = np.sqrt((rows - labels) / (rows - 1))
        half = stats.t.ppf(0.975, labels - 1) * drawn.std(ddof=1) / np.sqrt(labels) * finite
        uniform.append((drawn.mean(), drawn.mean() - half, drawn.mean() + half))
    active, uniform = np.array(active), np.array(uniform)
    width = float(np.mean(active[:, 2] - active[:, 1]))
    uniform_width = float(np.mean(uniform[:, 2] - uniform[:, 1]))
    return {"truth": truth, "coverage": float(np.mean((active[:, 1] <= truth) & (truth <= active[:, 2]))),
            "width": width, "bias": float(active[:, 0].mean() - truth), "uniform_coverage":
            float(np.mean((uniform[:, 1] <= truth) & (truth <= uniform[:, 2]))), "uniform_width": uniform_width,
            "ratio": width / uniform_width, "predicted_uniform_width": float(np.mean(active[:, 3]))}


def banking_pool(data: dict, encoder) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The 2,000-row pool: the program's 0/1 scores and each surrogate's predicted scores."""
    train, test, _ = data["banking77"]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(train))
    program_rows, distill_rows = [train[i] for i in order[:800]], [train[i] for i in order[800:2300]]
    pool = [test[i] for i in rng.permutation(len(test))[:2000]]
    program = text_pipeline(seed=0).fit([r["text"] for r in program_rows], [r["label"] for r in program_rows])
    texts = [r["text"] for r in pool]
    proba = program.predict_proba(texts)
    answers = [program.classes_[j] for j in proba.argmax(axis=1)]
    actual = np.array([a == r["label"] for a, r in zip(answers, pool)], dtype=float)
    distill_texts = encoder([r["text"] for r in distill_rows])
    pseudo = program.predict([r["text"] for r in distill_rows])
    distilled = text_pipeline("embeddings", seed=0).fit(distill_texts, pseudo)
    on_gold = text_pipeline("embeddings", seed=0).fit(distill_texts, [r["label"] for r in distill_rows])
    surrogates = {
        "classifier distilled from the program's answers on 1,500 texts": expected_scores(
            outputs.LABEL, answers, distilled.predict_proba(encoder(texts)), list(distilled.classes_)),
        "classifier trained on 1,500 gold labels": expected_scores(
            outputs.LABEL, answers, on_gold.predict_proba(encoder(texts)), list(on_gold.classes_)),
        "the program's own confidence (max probability)": proba.max(axis=1)}
    return actual, surrogates


def example_pool(folder: Path, data: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """The committed banking77 example through lmprog.estimate (program replayed from a copy of its ledger,
    the classifier lmprog.distill makes from it, as regenerate.sh does, as the surrogate): one draw of 40 labels
    estimated end to end, and the program's scores and the surrogate's predictions on its 400 unlabelled texts
    for the repeats."""
    example = REPO / "examples" / "banking77"
    compiled, lm = committed_example(folder, "banking77")
    gold = {r["text"]: r["label"] for part in data["banking77"][:2] for r in part}
    pool = [json.loads(line) for line in (example / "unlabeled.jsonl").read_text().splitlines()]
    model = folder / "banking77-model.skops"  # model files are not committed: distilled again, replayed
    lmprog.distill(compiled, pool, lm=lm, threads=2).save(model)
    drawn = lmprog.estimate(compiled, pool, labels=40, surrogate=model, lm=lm, threads=2)
    labelled = [dict(row, label=gold[row["text"]]) for row in drawn.queue_rows(compiled.task)]
    write_queue(folder / "example-to-label.jsonl", labelled)
    once = lmprog.estimate(compiled, pool, labelled_file=folder / "example-to-label.jsonl",
                           surrogate=model, lm=lm, threads=2)
    answers = compiled.use(lm).predict(pool, threads=2)
    actual = np.array([a == gold[r["text"]] for a, r in zip(answers, pool)], dtype=float)
    distilled = lmprog.load_distilled(model)
    predicted = expected_scores(outputs.LABEL, answers, distilled.predict_proba(pool), distilled.classes)
    return actual, predicted, {"interval": once.interval.describe(), "uniform_width": once.uniform_width,
                               "truth": float(actual.mean()), "program_calls_paid": once.spent["calls"]}


def estimate_part(console, data: dict, encoder, *, repeats: int, folder: Path) -> dict:
    table = Table(title=f"estimate · {repeats} simulated repeats · 95% intervals", title_justify="left")
    for column in ("pool", "surrogate", "N", "coverage", "width", "uniform coverage", "uniform width", "ratio",
                   "bias", "target"):
        table.add_column(column, justify="left" if column in ("pool", "surrogate", "target") else "right")
    actual, surrogates = banking_pool(data, encoder)
    results = {}
    for name, predicted in surrogates.items():
        for labels in (50, 100, 200):
            row = simulate(predicted, actual, labels, repeats)
            results[f"banking77-2000/{name}/{labels}"] = row
            met = "met" if 0.93 <= row["coverage"] <= 0.97 and row["ratio"] <= 0.7 else "missed"
            table.add_row(f"banking77 2,000 (acc {row['truth']:.3f})", name, str(labels), f"{row['coverage']:.3f}",
                          f"{row['width']:.3f}", f"{row['uniform_coverage']:.3f}", f"{row['uniform_width']:.3f}",
                          f"{row['ratio']:.2f}", f"{row['bias']:+.4f}", met)
    actual, predicted, once = example_pool(folder, data)
    for labels in (40, 100):
        row = simulate(predicted, actual, labels, repeats)
        results[f"example-400/{labels}"] = row
        table.add_row(f"banking77 example 400 (acc {row['truth']:.3f})", "its distilled classifier", str(labels),
                      f"{row['coverage']:.3f}", f"{row['width']:.3f}", f"{row['uniform_coverage']:.3f}",
                      f"{row['uniform_width']:.3f}", f"{row['ratio']:.2f}", f"{row['bias']:+.4f}", "")
    results["example-once"] = once
    console.print(table)
    console.print(f"lmprog.estimate end to end on the example (40 labels, seed 0): {once['interval']} (true "
                  f"{once['truth']:.3f}; uniform sampling's width {once['uniform_width']:.3f}; "
                  f"{once['program_calls_paid']} program calls paid: all replayed from the ledger copy)")
    return results
