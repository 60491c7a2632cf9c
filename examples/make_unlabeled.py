"""Write each example's unlabeled.jsonl: texts for ``lmprog distill`` to pseudo-label (seeded, stable).

    python examples/make_unlabeled.py [--data ../shared/data]

The texts come from the same full data sets as the examples' train and test files (see each
example's README for the licence), never repeat a train or test text, and carry no label: they
stand for the unlabelled pool a user has. Sizes: 400 texts for sms_spam (the collection's own
spam rate, about 13%) and banking77 (its 5 intents); for nlupp, all 176 banking texts left whose
intents are among its 12; 120 job-ad sentences for esco_tech (each costs two LM calls).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import random
from pathlib import Path

from make_subsets import BANKING77_INTENTS, NLUPP_INTENTS

HERE = Path(__file__).resolve().parent
SIZE = {"sms_spam": 400, "banking77": 400, "nlupp": 400, "esco_tech": 120}  # nlupp has only 176 left


def used_texts(name: str) -> set[str]:
    texts = set()
    for split in ("train", "test"):
        for line in (HERE / name / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            texts.add(json.loads(line)["text"])
    return texts


def sms_spam(data: Path) -> list[str]:
    with (data / "sms_spam" / "SMSSpamCollection.tsv").open(encoding="utf-8") as f:
        return [r["SMS"] for r in csv.DictReader(f, delimiter="\t")]


def banking77(data: Path) -> list[str]:
    with (data / "banking77" / "train.csv").open(encoding="utf-8") as f:
        return [r["text"] for r in csv.DictReader(f) if r["category"] in BANKING77_INTENTS]


def nlupp(data: Path) -> list[str]:
    keep = set(NLUPP_INTENTS)
    texts = []
    for fold in sorted(glob.glob(str(data / "nlupp" / "banking" / "fold*.json"))):
        for ex in json.loads(Path(fold).read_text(encoding="utf-8")):
            if ex.get("intents") and set(ex["intents"]) <= keep:
                texts.append(ex["text"])
    return texts


def esco_tech(data: Path) -> list[str]:
    texts = []
    for split in ("validation", "test"):
        for line in (data / "esco_tech" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            texts.append(json.loads(line)["text"])
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    args = parser.parse_args()
    for read in (sms_spam, banking77, nlupp, esco_tech):
        name = read.__name__
        used = used_texts(name)
        pool = sorted({t for t in read(args.data) if t.strip() and t not in used})
        random.Random(0).shuffle(pool)
        chosen = pool[:SIZE[name]]
        (HERE / name / "unlabeled.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n"
                                                             for t in chosen), encoding="utf-8")
        print(f"wrote examples/{name}/unlabeled.jsonl: {len(chosen)} of {len(pool)} unused texts")


if __name__ == "__main__":
    main()
