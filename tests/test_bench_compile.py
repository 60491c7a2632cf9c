"""bench/compile.py's tables from synthetic result files: no LM, no task files, no ledgers."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest

from lmprog import intervals
from lmprog.metrics import f1_multilabel, rp_at_k

BENCH = Path(__file__).resolve().parents[1] / "bench" / "compile.py"
MODEL = "local/smollm2"
N = 60
SEEDS = (0, 1, 2, 3, 4)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_compile", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def write(folder: Path, task: str, method: str, seed: int, gold: list, answers: list, *, output: str = "label",
          metric: str = "accuracy", labels=("ham", "spam"), calls: int = 0, model: str = MODEL,
          test: int | None = None, resumed: bool = False) -> dict:
    record = {"task": task, "method": method, "seed": seed, "model": model, "test": test or len(gold),
              "labelled": 50, "metric": metric, "output": output, "labels": list(labels), "gold": gold,
              "answers": answers, "compile_calls": calls, "compile_tokens": calls * 100,
              "compile_seconds": calls / 2, "test_seconds": 10.0, "test_calls": len(gold), "resumed": resumed,
              "errors": 0, "compiled": None, "code": {"head": "abc1234", "optimize": "def5678"},
              "score": None}
    path = folder / f"{task}-{method}-{seed}-{model.replace('/', '_')}-{record['test']}.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    return record


def flipped(gold: list, wrong: int, other=lambda g: "spam" if g == "ham" else "ham") -> list:
    """``gold`` with the first ``wrong`` answers wrong."""
    return [other(g) if i < wrong else g for i, g in enumerate(gold)]


@pytest.fixture
def spam_results(tmp_path):
    """sms_spam: zero-shot 50/60 right; DSPy 45/60 on every seed at 600 calls; lmprog 55/60 on four seeds and
    20/60 on seed 1 (below zero-shot by more than any interval) at 240 calls; the floor 58/60."""
    gold = ["ham" if i % 3 else "spam" for i in range(N)]
    write(tmp_path, "sms_spam", "zero-shot", 0, gold, flipped(gold, 10))
    for seed in SEEDS:
        write(tmp_path, "sms_spam", "dspy", seed, gold, flipped(gold, 15), calls=600)
        write(tmp_path, "sms_spam", "lmprog", seed, gold, flipped(gold, 40 if seed == 1 else 5), calls=240,
              resumed=seed == 2)
        write(tmp_path, "sms_spam", "floor", seed, gold, flipped(gold, 2))
    write(tmp_path, "sms_spam", "lmprog", 0, gold, gold, model="openai/other")  # another model: ignored
    write(tmp_path, "sms_spam", "lmprog", 9, gold, gold)  # a seed not asked for: ignored
    return tmp_path


def test_dspy_compared_on_the_seeds_both_ran(bench, spam_results):
    (spam_results / f"sms_spam-dspy-4-{MODEL.replace('/', '_')}-{N}.json").unlink()
    (spam_results / f"sms_spam-dspy-3-{MODEL.replace('/', '_')}-{N}.json").unlink()
    summary = bench.summarize(bench.load_results(spam_results, model=MODEL, test=N, seeds=list(SEEDS)))
    lmprog = summary["sms_spam"]["methods"]["lmprog"]
    assert lmprog["vs_dspy_seeds"] == 3  # seeds 0, 1, 2
    assert lmprog["vs_dspy"].value == pytest.approx((55 + 20 + 55) / 180 - 45 / 60)
    assert summary["sms_spam"]["methods"]["zero-shot"]["vs_dspy"].value == pytest.approx(50 / 60 - 45 / 60)


def test_summary_figures(bench, spam_results):
    results = bench.load_results(spam_results, model=MODEL, test=N, tasks=["sms_spam"], seeds=list(SEEDS))
    assert [c["seed"] for c in results["sms_spam"]["lmprog"]] == list(SEEDS)
    assert len(results["sms_spam"]["zero-shot"]) == 1
    summary = bench.summarize(results)["sms_spam"]
    lmprog = summary["methods"]["lmprog"]
    scores = [55 / 60, 20 / 60, 55 / 60, 55 / 60, 55 / 60]
    assert lmprog["score"][0] == pytest.approx(sum(scores) / 5)
    regret = lmprog["regret"]
    assert (regret["cells"], regret["below"], regret["worse"]) == (5, 1, 1)
    assert regret["mean_shortfall"] == pytest.approx(50 / 60 - 20 / 60)
    assert (regret["below_floor"], regret["floor_cells"]) == (1, 5)
    assert lmprog["calls"] == (240, 0) and lmprog["call_share"] == pytest.approx(0.4)
    assert lmprog["resumed"]
    # the mean over seeds against DSPy's, paired on the test examples
    assert lmprog["vs_dspy"].value == pytest.approx(sum(scores) / 5 - 45 / 60)
    assert lmprog["vs_dspy"].low <= lmprog["vs_dspy"].value <= lmprog["vs_dspy"].high
    assert lmprog["interval"].low <= lmprog["score"][0] <= lmprog["interval"].high
    dspy = summary["methods"]["dspy"]
    assert dspy["regret"]["below"] == 5 and dspy["vs_dspy"] is None
    # one cell: Wilson for accuracy, and the paired difference on per-example scores
    row = lmprog["cells"][0]
    assert row["interval"] == intervals.proportion_interval(55, 60)
    assert row["zero-shot"].value == pytest.approx(5 / 60)
    assert row["dspy"].value == pytest.approx(10 / 60)
    assert lmprog["cells"][1]["zero-shot"].verdict == intervals.WORSE


def test_targets(bench, spam_results):
    summary = bench.summarize(bench.load_results(spam_results, model=MODEL, test=N, seeds=list(SEEDS)))
    rows = {row["target"]: row for row in bench.targets(summary)}
    below = rows["lmprog below zero-shot by more than its paired interval"]
    assert below["measured"].startswith("1 of 5 cells") and below["met"] is False
    assert rows["lmprog below the supervised floor by more than its paired interval"]["measured"] == "1 of 5 cells"
    versus = rows["sms_spam: mean vs DSPy"]
    assert "at 40% of DSPy's calls" in versus["measured"] and versus["met"] is False  # +2 points only
    assert rows["sms_spam: lmprog compile calls"]["met"] is True


def test_table_only_prints_every_table(bench, spam_results, capsys):
    assert bench.main(["--table-only", "--results", str(spam_results), "--test", str(N), "--task", "sms_spam",
                       "--width", "220"]) == 0
    out = capsys.readouterr().out
    for text in ("compile from the same labelled examples", "every cell", "issue 14's targets", "DSPy BFSRS",
                 "floor: TF-IDF + LR", "1/5 by 50.0 (max 50.0) · 1", "40%", "WORSE", "def5678"):
        assert text in out, text
    assert "openai/other" not in out


def test_no_finished_cells(bench, tmp_path, capsys):
    assert bench.main(["--table-only", "--results", str(tmp_path), "--test", "100"]) == 0
    assert "no finished cells yet" in capsys.readouterr().out


def test_micro_f1_and_rankings_match_lmprog_metrics(bench, tmp_path):
    rng = random.Random(0)
    names = [f"intent{i}" for i in range(8)]
    gold = [rng.sample(names, rng.randint(0, 3)) for _ in range(N)]
    answers = [rng.sample(names, rng.randint(0, 3)) for _ in range(N)]
    zero = write(tmp_path, "nlupp", "zero-shot", 0, gold, answers, output="label_set", metric="micro_f1",
                 labels=names)
    better = write(tmp_path, "nlupp", "lmprog", 0, gold, gold, output="label_set", metric="micro_f1", labels=names)
    assert bench.headline(zero) == pytest.approx(f1_multilabel(gold, answers, average="micro", labels=names))
    difference = bench.cell_difference(zero, better)
    assert difference.value == pytest.approx(1 - bench.headline(zero)) and difference.verdict == intervals.BETTER
    interval = bench.cell_interval(zero)
    assert interval.low < interval.value < interval.high and interval.n == N

    skills = [f"skill {i}" for i in range(40)]
    gold = [rng.sample(skills, rng.randint(1, 3)) for _ in range(N)]
    ranked = [rng.sample(skills, 12) for _ in range(N)]
    floor = write(tmp_path, "esco_tech", "floor", 0, gold, ranked, output="ranking", metric="rp@10", labels=())
    assert bench.headline(floor) == pytest.approx(rp_at_k(gold, ranked, 10))
    for seed in (0, 1):
        write(tmp_path, "esco_tech", "lmprog", seed, gold, [g + r for g, r in zip(gold, ranked)], output="ranking",
              metric="rp@10", labels=())
    summary = bench.summarize(bench.load_results(tmp_path, model=MODEL, test=N))
    assert summary["esco_tech"]["ranking"] and not summary["nlupp"]["ranking"]
    rows = {row["target"]: row for row in bench.targets(summary)}
    irera = rows["esco_tech: compiled IReRa vs the raw-input retrieval floor (RP@10)"]
    assert irera["met"] is True and "over 2 seed(s)" in irera["measured"]


def test_cells_on_other_test_examples_are_refused(bench, tmp_path):
    first = write(tmp_path, "sms_spam", "zero-shot", 0, ["ham", "spam"] * 5, ["ham"] * 10)
    other = write(tmp_path, "sms_spam", "lmprog", 0, ["spam", "ham"] * 5, ["ham"] * 10)
    with pytest.raises(SystemExit, match="different test examples"):
        bench.cell_difference(first, other)
