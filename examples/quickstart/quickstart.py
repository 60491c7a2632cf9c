"""Label eight SMS messages as ham or spam with the embedded SmolLM2 model, through the ledger.

    python examples/quickstart/quickstart.py             # first run: 8 LM calls, recorded
    python examples/quickstart/quickstart.py             # second run: 0 LM calls, all ledger hits
    lmprog cache stats                                   # what was spent, by model and module

The answer is constrained to the label set (a JSON schema with an enum), so even a 135M-parameter
model always answers with a valid label. Messages: SMS Spam Collection v.1 (Almeida, Gomez Hidalgo
and Yamakami 2011, UCI id 228, CC BY 4.0).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import lmprog
from lmprog.run import open_run

LABELS = ["ham", "spam"]
SYSTEM = ("You label SMS messages. spam: unsolicited advertising, prize or money claims, premium-rate offers. "
          "ham: an ordinary personal or business message. Answer with JSON: {\"label\": \"ham\" or \"spam\"}.")
SCHEMA = {"type": "object", "properties": {"label": {"enum": LABELS}}, "required": ["label"]}


def label(lm, text: str) -> str:
    from dspy.lm15 import Config, Message, Request

    request = Request(
        model=lm.model,
        system=SYSTEM,
        messages=(Message.user(text),),
        config=Config(max_tokens=16, temperature=0.0,
                      response_format={"type": "json_schema", "name": "label", "schema": SCHEMA}),
    )
    with lmprog.module_name("quickstart.label"):
        return json.loads(lm(request).text)["label"]


def main() -> int:
    model = sys.argv[1] if len(sys.argv) > 1 else None  # default: $LMPROG_LM, then local/smollm2
    lm = lmprog.make_lm(model)
    rows = [json.loads(line) for line in (Path(__file__).parent / "messages.jsonl").read_text().splitlines()]
    console = Console()
    table = Table(title=f"{lm.model}: ham or spam?")
    for column in ("message", "gold", "predicted"):
        table.add_column(column, overflow="fold")
    started = time.perf_counter()
    with open_run(lm, "examples/quickstart", {"model": lm.model}) as run:
        correct = 0
        for row in rows:
            predicted = label(lm, row["text"])
            correct += predicted == row["label"]
            table.add_row(row["text"][:70], row["label"], predicted)
    console.print(table)
    stats = lm.ledger.stats(run_id=run.run_id)
    console.print(f"accuracy {correct}/{len(rows)} in {time.perf_counter() - started:.1f} s; "
                  f"paid LM calls {stats['calls']}, ledger hits {stats['hits']}; ledger: {lm.ledger.path}", soft_wrap=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except lmprog.LmprogError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
