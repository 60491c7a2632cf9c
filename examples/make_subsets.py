"""Regenerate the examples' data subsets from the full data sets (seeded, so the output is stable).

    python examples/make_subsets.py [--data ../shared/data]

Writes train.jsonl (50 labelled examples: what compile gets) and test.jsonl (200 held-out
examples: what evaluate and bench/compile.py score) into examples/sms_spam, examples/banking77
and examples/nlupp, plus the label files. Licences and attributions are in each example's README.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN, TEST = 50, 200

BANKING77_INTENTS = {
    "card_arrival": "the customer's new card has not arrived yet or they ask when it will",
    "exchange_rate": "questions about the exchange rate used for currency conversion",
    "lost_or_stolen_card": "the card was lost or stolen and must be blocked",
    "pending_top_up": "a top-up is still shown as pending",
    "cancel_transfer": "the customer wants to cancel or reverse a transfer",
}
NLUPP_INTENTS = ["request_info", "transfer_payment_deposit", "wrong_notworking_notshowing",
                 "make_open_apply_setup_get_activate", "card", "account", "cancel_close_leave_freeze",
                 "fees_interests", "savings", "loan", "overdraft", "balance"]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def write_labels(path: Path, labels: dict[str, str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "description"])
        writer.writerows(labels.items())


def per_label(rows: list[dict], counts: dict[str, int], rng: random.Random) -> list[dict]:
    chosen = []
    for label, n in counts.items():
        pool = [r for r in rows if r["label"] == label]
        chosen += rng.sample(pool, n)
    rng.shuffle(chosen)
    return chosen


def sms_spam(data: Path, rng: random.Random) -> None:
    with (data / "sms_spam" / "SMSSpamCollection.tsv").open(encoding="utf-8") as f:
        rows = [{"text": r["SMS"], "label": r["Label"]} for r in csv.DictReader(f, delimiter="\t")]
    unique = list({r["text"]: r for r in rows}.values())  # the collection repeats some messages
    train = per_label(unique, {"ham": 25, "spam": 25}, rng)
    seen = {r["text"] for r in train}
    test = per_label([r for r in unique if r["text"] not in seen], {"ham": 100, "spam": 100}, rng)
    out = HERE / "sms_spam"
    write_jsonl(out / "train.jsonl", train)
    write_jsonl(out / "test.jsonl", test)


def banking77(data: Path, rng: random.Random) -> None:
    def read(name: str) -> list[dict]:
        with (data / "banking77" / f"{name}.csv").open(encoding="utf-8") as f:
            return [{"text": r["text"], "label": r["category"]} for r in csv.DictReader(f)
                    if r["category"] in BANKING77_INTENTS]

    per_intent = len(BANKING77_INTENTS)
    out = HERE / "banking77"
    write_jsonl(out / "train.jsonl", per_label(read("train"), {k: TRAIN // per_intent for k in BANKING77_INTENTS}, rng))
    write_jsonl(out / "test.jsonl", per_label(read("test"), {k: TEST // per_intent for k in BANKING77_INTENTS}, rng))
    write_labels(out / "labels.csv", BANKING77_INTENTS)


def nlupp(data: Path, rng: random.Random) -> None:
    keep = set(NLUPP_INTENTS)
    rows = []
    for fold in sorted(glob.glob(str(data / "nlupp" / "banking" / "fold*.json"))):
        for ex in json.loads(Path(fold).read_text(encoding="utf-8")):
            intents = ex.get("intents") or []
            if intents and set(intents) <= keep:  # every gold intent is in the subset's label space
                rows.append({"text": ex["text"], "labels": sorted(intents)})
    rows = list({r["text"]: r for r in rows}.values())
    rng.shuffle(rows)
    out = HERE / "nlupp"
    write_jsonl(out / "train.jsonl", rows[:TRAIN])
    write_jsonl(out / "test.jsonl", rows[TRAIN:TRAIN + TEST])
    ontology = json.loads((data / "nlupp" / "ontology.json").read_text(encoding="utf-8"))["intents"]
    write_labels(out / "labels.csv", {name: ontology[name]["description"] for name in NLUPP_INTENTS})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    args = parser.parse_args()
    for make in (sms_spam, banking77, nlupp):
        (HERE / make.__name__).mkdir(exist_ok=True)
        make(args.data, random.Random(0))
        print(f"wrote examples/{make.__name__}")


if __name__ == "__main__":
    main()
