"""Tests for lmprog.metrics against hand-computed values."""

from __future__ import annotations

import pytest

from lmprog.metrics import (
    ReliabilityBin,
    accuracy,
    confusions,
    expected_calibration_error,
    f1,
    f1_multilabel,
    per_label_report,
    precision_at_k,
    recall_at_k,
    reliability_bins,
    rp_at_k,
)

approx = pytest.approx

# a: tp 1, fn 1 -> P 1, R 1/2, F 2/3;  b: tp 1, fp 1 -> P 1/2, R 1, F 2/3;  c: fn 1 (None pred) -> 0
GOLD = ["a", "a", "b", "c"]
PRED = ["a", "b", "b", None]


def test_accuracy():
    assert accuracy(GOLD, PRED) == 0.5
    assert accuracy(["x"], ["x"]) == 1.0
    assert accuracy([], []) == 0.0
    with pytest.raises(ValueError, match="gold has 2 items but pred has 1"):
        accuracy(["a", "b"], ["a"])


def test_f1_single_label():
    assert f1(GOLD, PRED) == approx(4 / 9)  # (2/3 + 2/3 + 0) / 3; None adds no label of its own
    # micro: tp 2, fp 1 (the wrong "b"), fn 2  ->  P 2/3, R 1/2, F 4/7
    assert f1(GOLD, PRED, average="micro") == approx(4 / 7)
    assert f1(GOLD, PRED, labels=["a", "b"]) == approx(2 / 3)
    assert f1(["a", "b"], ["a", "b"]) == 1.0
    assert f1([], []) == 0.0


def test_f1_multilabel():
    gold = [["x", "y"], ["y"], ["z"]]
    pred = [["x"], ["y", "z"], []]
    # x: F 1;  y: tp 1, fn 1 -> F 2/3;  z: fp 1, fn 1 -> F 0
    assert f1_multilabel(gold, pred) == approx(5 / 9)
    # micro: tp 2, fp 1, fn 2 -> P 2/3, R 1/2 -> F 4/7
    assert f1_multilabel(gold, pred, average="micro") == approx(4 / 7)
    # samples: 2/3, 2/3, 0
    assert f1_multilabel(gold, pred, average="samples") == approx(4 / 9)
    assert f1_multilabel(gold, pred, labels=["x", "y"]) == approx(5 / 6)
    assert f1_multilabel([["a"]], [None]) == 0.0
    assert accuracy(gold, pred) == 0.0 and accuracy([["a", "b"]], [["b", "a"]]) == 1.0


RANK_GOLD = [["a", "b"], ["c"], ["d", "e", "f", "g"], []]
RANKED = [["a", "x", "b"], ["y", "c"], ["d", "e", "h"], ["a"]]


def test_ranking_at_2():
    # top 2 hits: 1, 1, 2 (the example without gold is skipped)
    assert precision_at_k(RANK_GOLD, RANKED, 2) == approx((1 / 2 + 1 / 2 + 2 / 2) / 3)
    assert recall_at_k(RANK_GOLD, RANKED, 2) == approx((1 / 2 + 1 / 1 + 2 / 4) / 3)
    # RP@2 divides by min(2, |gold|): 2, 1, 2
    assert rp_at_k(RANK_GOLD, RANKED, 2) == approx((1 / 2 + 1 / 1 + 2 / 2) / 3)


def test_ranking_at_1():
    assert precision_at_k(RANK_GOLD, RANKED, 1) == approx(2 / 3)
    assert recall_at_k(RANK_GOLD, RANKED, 1) == approx((1 / 2 + 0 + 1 / 4) / 3)
    assert rp_at_k(RANK_GOLD, RANKED, 1) == approx(2 / 3)


def test_ranking_fewer_gold_than_k_short_rankings_and_duplicates():
    gold, ranked = [["a", "b", "c"]], [["a"]]
    assert precision_at_k(gold, ranked, 5) == approx(1 / 5)
    assert recall_at_k(gold, ranked, 5) == approx(1 / 3)
    assert rp_at_k(gold, ranked, 5) == approx(1 / 3)  # min(5, 3) = 3
    assert rp_at_k([["a", "b"]], [["a", "b", "z", "y", "x"]], 5) == 1.0  # perfect when gold < K
    assert precision_at_k([["a", "b"]], [["a", "a", "b"]], 2) == 1.0  # a repeat counts once
    assert rp_at_k([[], []], [["a"], ["b"]], 3) == 0.0  # nothing to score
    with pytest.raises(ValueError):
        rp_at_k(gold, ranked, 0)


CONF = [0.95, 0.9, 0.85, 0.6, 0.55, 0.3, None]
OK = [1, 1, 0, 1, 0, 0, 1]


def test_expected_calibration_error():
    # bins (0.9,1]: .95 ok -> gap .05;  (0.8,0.9]: .9 ok, .85 wrong -> |.5 - .875| = .375
    # (0.5,0.6]: .6 ok, .55 wrong -> |.5 - .575| = .075;  (0.2,0.3]: .3 wrong -> .3;  None skipped
    expected = (1 * 0.05 + 2 * 0.375 + 2 * 0.075 + 1 * 0.3) / 6
    assert expected_calibration_error(CONF, OK) == approx(expected)
    # two bins: (0,.5]: .3 wrong -> .3;  (.5,1]: mean conf 3.85/5 = .77, accuracy 3/5 -> .17
    assert expected_calibration_error(CONF, OK, n_bins=2) == approx((0.3 + 5 * 0.17) / 6)
    assert expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    assert expected_calibration_error([None], [True]) == 0.0
    with pytest.raises(ValueError, match="outside"):
        expected_calibration_error([1.2], [True])


def test_reliability_bins():
    bins = reliability_bins(CONF, OK, n_bins=4)
    assert [(b.lower, b.upper) for b in bins] == [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)]
    assert bins[0] == ReliabilityBin(0.0, 0.25, 0, None, None)
    assert bins[1].count == 1 and bins[1].mean_confidence == approx(0.3) and bins[1].accuracy == 0.0
    assert bins[2].count == 2 and bins[2].mean_confidence == approx(0.575) and bins[2].accuracy == 0.5
    assert bins[3].count == 3 and bins[3].mean_confidence == approx(0.9) and bins[3].accuracy == approx(2 / 3)
    edges = reliability_bins([0.0, 0.5, 1.0], [1, 1, 1], n_bins=2)
    assert [b.count for b in edges] == [2, 1]  # 0 joins the first bin; bins include their upper edge


def test_per_label_report():
    report = per_label_report(GOLD, PRED)
    assert report == [
        {"label": "a", "precision": 1.0, "recall": 0.5, "f1": approx(2 / 3), "support": 2},
        {"label": "b", "precision": 0.5, "recall": 1.0, "f1": approx(2 / 3), "support": 1},
        {"label": "c", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    ]
    assert [row["label"] for row in per_label_report(GOLD, PRED, labels=["c", "a"])] == ["c", "a"]
    multi = per_label_report([["x", "y"], ["y"]], [["x"], ["x", "y"]])
    assert multi == [
        {"label": "x", "precision": 0.5, "recall": 1.0, "f1": approx(2 / 3), "support": 1},
        {"label": "y", "precision": 1.0, "recall": 0.5, "f1": approx(2 / 3), "support": 2},
    ]


def test_confusions():
    gold = ["a", "a", "a", "b", "b", "c", "c"]
    pred = ["b", "b", "c", "a", "b", None, "c"]
    assert confusions(gold, pred) == [("a", "b", 2), ("a", "c", 1), ("b", "a", 1), ("c", None, 1)]
    assert confusions(gold, pred, top=2) == [("a", "b", 2), ("a", "c", 1)]
    assert confusions(["a"], ["a"]) == []
