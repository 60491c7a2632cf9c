"""Regenerate the esco_tech example's files from the full data sets (seeded, so the output is stable).

    python examples/esco_tech/make_data.py [--data ../shared/data]

Writes into examples/esco_tech:
  esco_skills.csv  all 13,891 ESCO v1.1.0 skills: name (preferred label), description (first
                   sentence, at most 200 characters), aliases (alternative labels joined with "|")
  train.jsonl      20 sentences sampled from the TECH validation split
  test.jsonl       30 sentences sampled from the TECH test split (none also in validation)
Rows with a gold label that is not a skill name are dropped and counted. Licences and
attributions are in README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN, TEST = 20, 30
MAX_DESCRIPTION = 200
_FIRST_SENTENCE = re.compile(r"(.+?[.!?])(?:\s|$)")


def short_description(text: str) -> str:
    """The first sentence, cut at a word boundary to at most MAX_DESCRIPTION characters ("..." marks a cut)."""
    text = " ".join(text.split())
    match = _FIRST_SENTENCE.match(text)
    sentence = match.group(1) if match else text
    if len(sentence) > MAX_DESCRIPTION:
        sentence = sentence[:MAX_DESCRIPTION - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return sentence


def skills(data: Path) -> list[dict]:
    with (data / "esco_skills_v1.1.0" / "esco_skills_v1.1.0_en.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out, seen = [], set()
    for row in rows:
        name = row["preferredLabel"].strip()
        if name in seen:
            raise SystemExit(f"duplicate ESCO preferred label {name!r}; decide how to resolve it before writing")
        seen.add(name)
        aliases = [a.strip() for a in row["altLabels"].split(" | ")]
        aliases = list(dict.fromkeys(a for a in aliases if a and a != name))
        out.append({"name": name, "description": short_description(row["description"]), "aliases": "|".join(aliases)})
    return out


def write_skills(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["name", "description", "aliases"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def known(rows: list[dict], names: set[str], split: str) -> list[dict]:
    """Rows whose every gold label is a skill name; the others are reported and dropped."""
    kept = [{"text": r["text"], "labels": r["labels"]} for r in rows if r["labels"] and set(r["labels"]) <= names]
    if len(kept) != len(rows):
        print(f"{split}: dropped {len(rows) - len(kept)} rows with a gold label that is not an ESCO skill name")
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parents[2] / "shared" / "data")
    args = parser.parse_args()
    rng = random.Random(0)

    labels = skills(args.data)
    write_skills(HERE / "esco_skills.csv", labels)
    names = {row["name"] for row in labels}

    validation = known(read_jsonl(args.data / "esco_tech" / "validation.jsonl"), names, "validation")
    test = known(read_jsonl(args.data / "esco_tech" / "test.jsonl"), names, "test")
    in_validation = {r["text"] for r in validation}
    overlap = [r for r in test if r["text"] in in_validation]
    if overlap:
        print(f"test: left out {len(overlap)} sentences that are also in validation")
    test = [r for r in test if r["text"] not in in_validation]

    write_jsonl(HERE / "train.jsonl", rng.sample(validation, TRAIN))
    write_jsonl(HERE / "test.jsonl", rng.sample(test, TEST))
    print(f"wrote examples/esco_tech: {len(labels)} skills, {TRAIN} train, {TEST} test")


if __name__ == "__main__":
    main()
