"""The label loop benchmark, with the gold labels as the simulated person (data from ../shared/data).

    python bench/label_loop.py                      # all parts, 3 seeds
    python bench/label_loop.py --parts audit --seeds 1
    python bench/label_loop.py --json results.json

- **suggest vs random**: a person labels 10, 20, 40, 80 rows, chosen by ``lmprog.suggest`` (each round asks for
  the next rows given the labels so far) or at random; the plain classifier (``lmprog.supervised.text_pipeline``,
  TF-IDF, and the same on MiniLM embeddings) is trained on the labels and scored on the test split: banking77
  (all 77 intents; pool = the 10,003 train texts, test = 3,080) and nlupp banking (48 intents, multi-label,
  micro-F1; pool = folds 0-9, test = folds 10-19). Target: suggest reaches random's 80-label score with at most
  40 labels.
- **program**: the same on the committed banking77 example (5 intents, its 50 training labels known), with
  suggest also guided by the compiled program, whose answers are replayed from a copy of the example's ledger
  (no LM call); the compiled program's own test accuracy is shown beside (compiling anew for every round would
  need the embedded model for hours on this machine).
- **audit**: 400 training rows (seeded), 10% of their labels changed to another label, ``lmprog.audit``'s flags
  against the changed rows (precision, recall) on banking77 and sms_spam; target both at least 0.7. Also the
  top flags on 400 unchanged rows (public data sets have real errors), and, for comparison, cleanlab on the
  TF-IDF classifier's out-of-fold probabilities alone.
- **estimate**: 200 repeats of active testing on a 2,000-row banking77 pool (the program: a TF-IDF classifier
  trained on 800 other rows; surrogates: a classifier distilled from the program's answers on 1,500 other
  texts, and the program's own confidence), N labels each; coverage of the true pool accuracy by the 95%
  interval (target 93-97%) and its width against uniform sampling's with the same N (target at most 0.7x). The
  same on the committed banking77 example: its compiled program replayed from a copy of its ledger on its
  400 unlabelled texts, the classifier ``lmprog.distill`` makes from it as the surrogate, through
  ``lmprog.estimate``.

MiniLM embeddings (the dense extra) are computed once per text and reused (cached under the system temp dir).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402

from label_loop_parts import audit_part, estimate_part, program_part, suggest_part  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PARTS = ("suggest", "program", "audit", "estimate")


class CachedEncoder:
    """all-MiniLM-L6-v2 (lmprog.retrieval.load_encoder) with every text's vector kept in memory and on disk."""

    identity = "all-MiniLM-L6-v2 (cached)"

    def __init__(self, folder: Path):
        from lmprog.retrieval import load_encoder

        self.folder = folder
        self.file = folder / "minilm-cache.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.file.exists():
            saved = np.load(self.file, allow_pickle=False)
            self.vectors = dict(zip(saved["texts"].tolist(), saved["vectors"]))
        self.encoder = load_encoder(None)

    def __call__(self, texts):
        missing = sorted({t for t in texts if t not in self.vectors})
        if missing:
            for text, vector in zip(missing, self.encoder(missing)):
                self.vectors[text] = vector
            self.save()
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)

    def save(self) -> None:
        texts = list(self.vectors)
        np.savez(self.file, texts=np.array(texts), vectors=np.stack([self.vectors[t] for t in texts]))


def banking77() -> tuple[list[dict], list[dict], list[str]]:
    read = lambda name: [{"text": r["text"], "label": r["category"]}  # noqa: E731
                         for r in csv.DictReader(open(DATA / "banking77" / f"{name}.csv", encoding="utf-8"))]
    train, test = read("train"), read("test")
    return train, test, sorted({r["label"] for r in train})


def nlupp_banking() -> tuple[list[dict], list[dict], list[dict]]:
    def fold(k: int) -> list[dict]:
        rows = json.loads((DATA / "nlupp" / "banking" / f"fold{k}.json").read_text(encoding="utf-8"))
        return [{"text": r["text"], "labels": sorted(r.get("intents", []))} for r in rows]

    ontology = json.loads((DATA / "nlupp" / "ontology.json").read_text(encoding="utf-8"))["intents"]
    labels = [{"name": k, "description": v["description"]} for k, v in sorted(ontology.items())
              if {"banking", "general"} & set(v["domain"])]
    return [r for k in range(10) for r in fold(k)], [r for k in range(10, 20) for r in fold(k)], labels


def sms_spam() -> tuple[list[dict], list[str]]:
    with open(DATA / "sms_spam" / "SMSSpamCollection.tsv", encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t", 1) for line in handle][1:]
    return [{"text": text, "label": label} for label, text in rows], ["ham", "spam"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=200, help="estimate: simulated repeats")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lmprog-label-loop")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore")  # sklearn and cleanlab warn about labels with few rows in a fold
    console, encoder, results = Console(width=max(Console().width, 150)), CachedEncoder(args.cache), {}
    data = {"banking77": banking77(), "nlupp": nlupp_banking(), "sms_spam": sms_spam()}
    for part in args.parts.split(","):
        started = time.perf_counter()
        if part == "suggest":
            results[part] = suggest_part(console, data, encoder, seeds=args.seeds)
        elif part == "program":
            results[part] = program_part(console, data, encoder, seeds=args.seeds, folder=args.cache)
        elif part == "audit":
            results[part] = audit_part(console, data, encoder, seeds=args.seeds)
        elif part == "estimate":
            results[part] = estimate_part(console, data, encoder, repeats=args.repeats, folder=args.cache)
        else:
            parser.error(f"unknown part {part!r}; use {', '.join(PARTS)}")
        console.print(f"[dim]{part}: {time.perf_counter() - started:,.0f} s[/dim]")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
