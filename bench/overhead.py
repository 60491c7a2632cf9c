"""Per-call overhead of the ledger, measured against DSPy and litellm alone (used by bench/ledger.py).

- in flight: ``threads`` calls at once against a test server with ``latency`` seconds per answer, running in
  a process of its own (so the server's work is not the client's): ``lmprog.evaluate`` with a ledgered LM
  against ``dspy.Parallel`` with a plain ``dspy.LM`` (no cache) on the same Classify module; rounds are
  interleaved and each side's best round counts.
- one call: a bare ``litellm.completion`` against an uncached ledgered LM call (and a plain ``dspy.LM``
  call, for scale), interleaved, medians.

    python bench/overhead.py [--calls 320] [--rounds 3]   # only these two measurements
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MODEL = "openai/test-model"
KEY = "sk-bench-not-a-real-key"
SERVER = """
import sys
from lmprog.testing import TestLMServer, answer_fields
server = TestLMServer(rule=lambda body: answer_fields(label="billing"), latency=float(sys.argv[1])).start()
print(server.api_base, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
"""


class ServerProcess:
    """A TestLMServer (127.0.0.1) in a child process."""

    def __init__(self, latency: float):
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, str(latency)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.api_base = self.process.stdout.readline().strip()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def task_and_examples(n: int, offset: int):
    import dspy

    from lmprog import Task

    task = Task(inputs={"text": "the message"}, labels=["billing", "card", "refund", "transfer"],
                instructions="Which banking intent is this?", name="bank")
    examples = [dspy.Example(text=f"question {offset + i}: why was my account billed twice this month?",
                             label="billing").with_inputs("text") for i in range(n)]
    return task, examples


def lmprog_round(api_base: str, ledger: Path, n: int, offset: int, threads: int) -> float:
    """calls/s of lmprog.evaluate on ``n`` uncached examples."""
    import lmprog

    task, examples = task_and_examples(n, offset)
    lm = lmprog.make_lm(MODEL, api_base=api_base, api_key=KEY, ledger=ledger)
    started = time.perf_counter()
    result = lmprog.evaluate(lmprog.Classify(task), examples, lm=lm, threads=threads)
    seconds = time.perf_counter() - started
    assert result.errors() == {} and result.cost["paid_calls"] == n, (result.errors(), result.cost)
    return n / seconds


def dspy_round(api_base: str, n: int, offset: int, threads: int) -> float:
    """calls/s of dspy.Parallel with a plain dspy.LM (no cache) on the same module and inputs."""
    import dspy

    import lmprog

    task, examples = task_and_examples(n, offset)
    lm = dspy.LM(MODEL, api_base=api_base, api_key=KEY, cache=False, temperature=0.0, max_tokens=1024)
    module = lmprog.Classify(task)
    started = time.perf_counter()
    with dspy.context(lm=lm):
        results = dspy.Parallel(num_threads=threads, disable_progress_bar=True)([(module, e) for e in examples])
    seconds = time.perf_counter() - started
    assert all(r is not None and r.label == "billing" for r in results)
    return n / seconds


def in_flight(workdir: Path, calls: int = 320, threads: int = 32, latency: float = 0.2,
              rounds: int = 3) -> dict:
    """Best calls/s of each side over interleaved rounds (a fresh ledger and fresh inputs per lmprog round)."""
    ours, theirs = [], []
    with ServerProcess(latency) as server:
        dspy_round(server.api_base, threads, 10**6, threads)  # warm up imports and connections
        lmprog_round(server.api_base, workdir / "warm.db", threads, 10**6, threads)
        for r in range(rounds):
            ours.append(lmprog_round(server.api_base, workdir / f"inflight{r}.db", calls, r * calls, threads))
            theirs.append(dspy_round(server.api_base, calls, r * calls, threads))
    return {"lmprog": max(ours), "dspy": max(theirs), "rounds": list(zip(ours, theirs)), "threads": threads,
            "latency": latency, "calls": calls}


def one_call(api_base: str, workdir: Path, n: int = 300) -> dict:
    """Median ms of one call: bare litellm.completion, an uncached ledgered LM call, a plain dspy.LM call."""
    import dspy
    import litellm

    import lmprog

    lm = lmprog.make_lm(MODEL, api_base=api_base, api_key=KEY, ledger=workdir / "one-call.db")
    plain = dspy.LM(MODEL, api_base=api_base, api_key=KEY, cache=False, temperature=0.0, max_tokens=1024)
    timings: dict[str, list[float]] = {"bare": [], "lmprog": [], "dspy": []}
    for i in range(n + 20):
        prompt = f"miss overhead probe {i}"  # lm(prompt) sends it as the one user message
        calls = {
            "bare": lambda: litellm.completion(model=MODEL, api_base=api_base, api_key=KEY, temperature=0.0,
                                               max_tokens=1024, messages=[{"role": "user", "content": prompt}]),
            "lmprog": lambda: lm(prompt),
            "dspy": lambda: plain(prompt),
        }
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            if i >= 20:  # the first calls warm up connections and imports
                timings[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=320, help="calls per in-flight round (default 320)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        flight = in_flight(Path(tmp), calls=args.calls, rounds=args.rounds)
        with ServerProcess(0.0) as server:
            single = one_call(server.api_base, Path(tmp))
    print(f"in flight ({flight['threads']} threads, {flight['latency'] * 1000:.0f} ms server): lmprog.evaluate "
          f"{flight['lmprog']:.1f} calls/s, dspy.Parallel {flight['dspy']:.1f} calls/s, ratio "
          f"{flight['lmprog'] / flight['dspy']:.2f} (rounds {[(round(a), round(b)) for a, b in flight['rounds']]})")
    print(f"one call: bare litellm {single['bare']:.2f} ms, lmprog {single['lmprog']:.2f} ms "
          f"({single['lmprog'] / single['bare']:.2f}x, {single['lmprog'] - single['bare']:+.2f} ms), plain dspy.LM "
          f"{single['dspy']:.2f} ms ({single['dspy'] / single['bare']:.2f}x)")


if __name__ == "__main__":
    main()
