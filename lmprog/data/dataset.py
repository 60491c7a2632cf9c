"""Dataset: examples plus their input fields, label kind and origin; seeded, stratified splits."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from lmprog.errors import ConfigurationError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import dspy

__all__ = ["Dataset"]


class Dataset:
    """A list of ``dspy.Example`` plus what is needed to use it: input fields, label kind, origin.

    ``dropped`` lists ``(line, message)`` for rows skipped by ``load_examples(drop_invalid=True)``.
    """

    def __init__(
        self,
        examples: Sequence[dspy.Example],
        *,
        input_fields: Sequence[str],
        multi_label: bool = False,
        path: str | None = None,
        dropped: Sequence[tuple[int, str]] = (),
    ):
        self.examples = list(examples)
        self.input_fields = list(input_fields)
        self.multi_label = multi_label
        self.path = path
        self.dropped = list(dropped)

    @property
    def label_field(self) -> str:
        """``"labels"`` for multi-label data, else ``"label"``."""
        return "labels" if self.multi_label else "label"

    @property
    def has_labels(self) -> bool:
        """True when every example carries a gold label (False for data loaded with ``label=None``)."""
        return bool(self.examples) and all(self.label_field in ex for ex in self.examples)

    def gold(self) -> list:
        """Gold label per example: a name (single-label) or a list of names (multi-label)."""
        return [ex[self.label_field] for ex in self.examples]

    def label_counts(self) -> Counter:
        """How many examples carry each label (each label of a multi-label example counts once)."""
        counts: Counter = Counter()
        for ex in self.examples:
            value = ex.get(self.label_field)
            if value is None:
                continue
            counts.update(value if self.multi_label else [value])
        return counts

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[dspy.Example]:
        return iter(self.examples)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._subset(self.examples[index])
        return self.examples[index]

    def __repr__(self) -> str:
        kind = "multi-label" if self.multi_label else "single-label"
        return f"Dataset({len(self)} examples, {kind}, inputs={self.input_fields}, path={self.path!r})"

    def _subset(self, examples: Sequence[dspy.Example]) -> Dataset:
        return Dataset(examples, input_fields=self.input_fields, multi_label=self.multi_label, path=self.path)

    def split(
        self,
        *,
        train: int | float,
        dev: int | float,
        test: int | float | None = None,
        seed: int = 0,
        stratify: bool = True,
    ) -> tuple[Dataset, ...]:
        """Split into ``(train, dev)`` or ``(train, dev, test)``, seeded and deterministic.

        Sizes are counts (int) or fractions of ``len(self)`` (float in [0, 1]); they may sum to less
        than the whole, and fractions that sum to 1 use every example. Single-label data is stratified
        with scikit-learn's ``train_test_split`` at each step where every class has at least two
        examples and each side can hold one of every class; otherwise that step is a plain seeded
        shuffle. Then, when ``stratify`` is on and train is at least as large as the number of
        classes, each class missing from train swaps one example (from dev, test or the unrequested
        rest) into train, so every class has a demo candidate. Multi-label and unlabelled data are
        shuffled, never stratified. Examples keep the shuffled order. Asking for more examples than exist raises ``DataError``.
        """
        sizes = _split_sizes(len(self), train=train, dev=dev, test=test)
        need = sum(sizes)
        if need > len(self):
            parts = " + ".join(f"{name} {n}" for name, n in zip(("train", "dev", "test"), sizes))
            where = f" in {self.path}" if self.path else ""
            raise DataError(
                f"the split needs {need} examples ({parts}) but there are only {len(self)}{where}; "
                "ask for fewer or add data",
                path=self.path,
            )
        y = self.gold() if (stratify and not self.multi_label and self.has_labels) else None
        groups = _partition(len(self), sizes, y, seed)
        return tuple(self._subset([self.examples[i] for i in group]) for group in groups)


def _split_sizes(n: int, *, train, dev, test) -> list[int]:
    requested = [("train", train), ("dev", dev)] + ([("test", test)] if test is not None else [])
    sizes, fractions = [], []
    for name, value in requested:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(f"split size {name}={value!r} must be a count (int) or a fraction (float)")
        if isinstance(value, float):
            if not 0.0 <= value <= 1.0:
                raise ConfigurationError(f"split fraction {name}={value!r} must be between 0 and 1")
            fractions.append(value)
            sizes.append(int(value * n + 1e-9))
        else:
            if value < 0:
                raise ConfigurationError(f"split size {name}={value!r} must not be negative")
            sizes.append(value)
    # Fractions that make up the whole set use every example: the rounding remainder goes to train.
    if len(fractions) == len(requested) and abs(sum(fractions) - 1.0) < 1e-9:
        sizes[0] += n - sum(sizes)
    return sizes


def _partition(n: int, sizes: list[int], y: list | None, seed: int) -> list[list[int]]:
    """Indices for each requested part (train first). ``y`` enables stratification."""
    pool, unused = list(range(n)), []
    if sum(sizes) < n:  # leave the unrequested examples out first
        pool, unused = _two_way(pool, sum(sizes), y, seed)
    parts: list[list[int]] = []
    for k, size in enumerate(reversed(sizes[1:])):  # test, then dev; train is what remains
        pool, part = _two_way(pool, len(pool) - size, y, seed + k + 1)
        parts.append(part)
    groups = [pool] + list(reversed(parts))
    if y is not None:
        _cover_train(groups + [unused], y)
    return groups


def _two_way(pool: list[int], keep: int, y: list | None, seed: int) -> tuple[list[int], list[int]]:
    """Split ``pool`` into ``keep`` indices and the rest, stratified when feasible."""
    rest = len(pool) - keep
    if keep == 0 or rest == 0:
        shuffled = pool[:]
        random.Random(seed).shuffle(shuffled)
        return shuffled[:keep], shuffled[keep:]
    from sklearn.model_selection import train_test_split

    strata = None
    if y is not None:
        counts = Counter(y[i] for i in pool)
        if min(counts.values()) >= 2 and min(keep, rest) >= len(counts):
            strata = [y[i] for i in pool]
    kept, other = train_test_split(pool, train_size=keep, test_size=rest, random_state=seed, stratify=strata)
    return list(kept), list(other)


def _cover_train(groups: list[list[int]], y: list) -> None:
    """Swap one example of each class missing from train (from any other group) into train.

    The example leaving train is the last one of train's most frequent class, if that has two or more.
    """
    train = groups[0]
    classes_everywhere = {y[i] for g in groups for i in g}
    if len(train) < len(classes_everywhere):
        return
    for group in groups[1:]:
        for pos, idx in enumerate(group):
            train_counts = Counter(y[i] for i in train)
            if y[idx] in train_counts:
                continue
            common, count = max(train_counts.items(), key=lambda kv: (kv[1], str(kv[0])))
            if count < 2:
                return
            out_pos = max(p for p, i in enumerate(train) if y[i] == common)
            group[pos], train[out_pos] = train[out_pos], idx
