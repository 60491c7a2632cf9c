"""Retrieval-only benchmark: LabelRetriever (bm25 and dense) on the ESCO TECH and HOUSE test sets.

    python bench/retrieval.py                 # bm25 and dense (dense needs lmprog[dense])
    python bench/retrieval.py --kinds bm25    # lexical only
    LMPROG_DATA=/path/to/data python bench/retrieval.py

The query is the raw job-ad sentence (no LM "infer" step), the label space is all 13,891 ESCO
v1.1.0 skills (name + alternative labels). Reported per retriever: RP@5 and RP@10 (correct labels
in the top K / min(K, number of gold labels), averaged over sentences), the cold index build time
(a fresh index folder, so nothing is loaded from cache; dense includes loading the model) and
queries per second for one batched ``search_many`` over all test sentences. For scale: the
Infer-Retrieve-Rank paper reports RP@5/RP@10 of 63.13/71.98 (TECH) and 55.57/61.71 (HOUSE) with
an LM infer step and a GPT-4 ranker on top of retrieval.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from lmprog.labels import LabelSpace  # noqa: E402
from lmprog.metrics import rp_at_k  # noqa: E402
from lmprog.retrieval import LabelRetriever  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("esco_tech", "esco_house")


def data_root() -> Path:
    return Path(os.environ.get("LMPROG_DATA") or REPO.parent / "shared" / "data")


def load_split(root: Path, name: str, split: str = "test") -> tuple[list[str], list[list[str]]]:
    texts, gold = [], []
    with open(root / name / f"{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                texts.append(row["text"])
                gold.append(row["labels"])
    return texts, gold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default="bm25,dense", help="comma-separated retriever kinds (default: bm25,dense)")
    parser.add_argument("--fields", default="name,aliases", help="label fields to index (default: name,aliases)")
    args = parser.parse_args()
    console = Console(width=120)

    root = data_root()
    started = time.perf_counter()
    space = LabelSpace.from_file(root / "esco_skills_v1.1.0" / "esco_skills_v1.1.0_en.csv", name="preferredLabel",
                                 description="description", aliases="altLabels", alias_separator=" | ")
    load_seconds = time.perf_counter() - started
    splits = {name: load_split(root, name) for name in DATASETS}
    fields = tuple(f.strip() for f in args.fields.split(",") if f.strip())

    table = Table(title=f"LabelRetriever on ESCO test sets ({len(space):,} skills, fields={'+'.join(fields)}, "
                        f"query = raw sentence)")
    table.add_column("retriever")
    table.add_column("cold build s", justify="right")
    table.add_column("data set")
    table.add_column("sentences", justify="right")
    table.add_column("RP@5", justify="right")
    table.add_column("RP@10", justify="right")
    table.add_column("queries/s", justify="right")

    for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
        with tempfile.TemporaryDirectory(prefix="lmprog-bench-index-") as index_dir:
            retriever = LabelRetriever(space, kind=kind, fields=fields, index_dir=index_dir)
            started = time.perf_counter()
            retriever.build()
            build_seconds = time.perf_counter() - started
            assert retriever.loaded_ is False  # a cold build, not a cache hit
            label = "bm25 (bm25s)" if kind == "bm25" else "dense (all-MiniLM-L6-v2)"
            for i, (name, (texts, gold)) in enumerate(splits.items()):
                started = time.perf_counter()
                ranked = retriever.search_many(texts, k=10)
                seconds = time.perf_counter() - started
                ranked_names = [[n for n, _ in results] for results in ranked]
                table.add_row(label if i == 0 else "", f"{build_seconds:.1f}" if i == 0 else "",
                              name, str(len(texts)),
                              f"{100 * rp_at_k(gold, ranked_names, 5):.2f}",
                              f"{100 * rp_at_k(gold, ranked_names, 10):.2f}",
                              f"{len(texts) / seconds:,.0f}")
        table.add_section()

    table.caption = (f"label space loaded in {load_seconds:.1f} s; RP@K in %. IReRa (LM infer + GPT-4 rank): "
                     "TECH 63.13/71.98, HOUSE 55.57/61.71")
    console.print(table)


if __name__ == "__main__":
    main()
