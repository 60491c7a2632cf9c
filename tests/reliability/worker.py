"""One process of the concurrency test: compile, then evaluate, with many threads, against a shared ledger.

    python tests/reliability/worker.py TASK_TOML API_BASE LEDGER SEED THREADS

Prints JSON: the calls this process paid for and the ledger hits it got, for compile and evaluate.
"""

import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import lmprog  # noqa: E402


def main() -> None:
    task_path, api_base, ledger, seed, threads = sys.argv[1:6]
    task = lmprog.Task.from_toml(task_path)
    lm = lmprog.make_lm("openai/test-model", api_base=api_base, ledger=ledger)
    compiled = lmprog.compile(lmprog.Classify(task), task.load("train"), lm=lm, seed=int(seed), threads=int(threads))
    evaluation = lmprog.evaluate(compiled, task.load("test"), lm=lm, threads=int(threads))
    print(json.dumps({"compile": {"paid": compiled.spent["calls"], "hits": compiled.spent["hits"]},
                      "evaluate": {"paid": evaluation.cost["paid_calls"], "hits": evaluation.cost["ledger_hits"]},
                      "score": evaluation.score, "errors": evaluation.errors()}))


if __name__ == "__main__":
    main()
