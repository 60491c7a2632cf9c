"""Label probabilities from the embedded model: how likely each value of a JSON schema's enum was.

A request whose ``config.probabilities`` is set and whose ``json_schema`` declares a top-level string
enum (a "judgment" in lm15's terms, such as Classify's ``label``) is answered as usual under the
grammar, and the distribution over the enum's values is measured on the same model state:

- each value is tokenized as the grammar writes it (the JSON-escaped string) and the values form a
  token trie; the closing quote ends a value;
- at each node of the trie where values part ways, the model's logits give the probability of each
  next token, normalized over the tokens the values continue with there; a value's probability is the
  product along its path (the first differing token of each value, and of each group of values that
  share a prefix, decides);
- logits on the path the answer took were recorded while it was generated (a logits processor);
  other branching nodes cost one single-token decode per token on their path, from the KV cache;
  a group of values that together has less than ``MIN_SCORED`` (0.1%) is split evenly instead.

The distribution is normalized over the enum, so it sums to 1; it is the model's own, before the
sampler (temperature, penalties) changes anything.
"""

from __future__ import annotations

import json
import re
import threading

import numpy as np

METHOD = "candidate_sequence_likelihood"  # lm15's name for a distribution measured by scoring each candidate
_END = None  # the trie key that ends a value (the closing quote)
MIN_SCORED = 1e-3  # a group of values sharing less probability than this is split evenly, not scored further
_CLOSING = re.compile(rb'" ?[},]?')  # tokens that close a string value in the JSON grammar


def string_judgments(response_format) -> dict[str, list[str]]:
    """``{property: enum values}`` for the top-level string enums a ``json_schema`` response format declares."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return {}
    schema = response_format.get("schema") or {}
    properties = schema.get("properties") if isinstance(schema, dict) else None
    found = {}
    for name, prop in (properties or {}).items():
        values = prop.get("enum") if isinstance(prop, dict) else None
        if prop.get("type", "string") == "string" and isinstance(values, list) and values \
                and all(isinstance(v, str) and v for v in values) and len(set(values)) == len(values):
            found[name] = values
    return found


class LogitRows:
    """A llama-cpp-python logits processor that keeps each generation step's logits by position."""

    def __init__(self):
        self.rows: dict[int, np.ndarray] = {}

    def __call__(self, input_ids, scores):
        self.rows[len(input_ids)] = np.array(scores, dtype=np.float32)
        return scores


class Scorer:
    """Label tries and closing-quote tokens of one loaded model (built once, reused under its lock)."""

    def __init__(self, llama):
        import llama_cpp

        self.llama = llama
        self._get_logits = llama_cpp.llama_get_logits_ith
        self.n_vocab = llama.n_vocab()
        self.closing = np.array([t for t in range(self.n_vocab)
                                 if _CLOSING.fullmatch(llama.detokenize([t]))], dtype=np.int64)
        self._tries: dict[tuple[str, ...], dict] = {}
        self._lock = threading.Lock()

    def trie(self, values: list[str]) -> dict:
        key = tuple(values)
        with self._lock:
            if key not in self._tries:
                root: dict = {}
                for value in values:
                    node = root
                    for token in self.llama.tokenize(json.dumps(value)[1:-1].encode(), add_bos=False, special=False):
                        node = node.setdefault(token, {})
                    node[_END] = value
                self._tries[key] = root
            return self._tries[key]

    def measure(self, out: dict, judgments: dict[str, list[str]], rows: LogitRows) -> dict[str, dict[str, float]]:
        """The distribution of each judgment whose value the answer in ``out`` wrote (the model is locked)."""
        content = out["choices"][0]["message"].get("content") or ""
        n_prompt = out["usage"]["prompt_tokens"]
        llama = self.llama
        answer = llama.input_ids[:llama.n_tokens].tolist()  # prompt and answer tokens (the last may be unevaluated)
        offsets = np.cumsum([0] + [len(llama.detokenize([t])) for t in answer[n_prompt:]]).tolist()
        found = {}
        for name, values in judgments.items():
            start = _value_start(content, name)
            at = None if start is None else len(content[:start].encode())
            if at not in offsets or offsets.index(at) == 0:
                continue  # not written, or it starts inside a token: no clean branching point
            base = n_prompt + offsets.index(at)
            walk = _Walk(answer, rows.rows, dict.fromkeys(values, 0.0))
            root = walk.rows.get(base)
            if root is None:
                root = self._decode(base - 1, [answer[base - 1]])
            self._walk(walk, self.trie(values), base, root, 1.0)
            total = sum(walk.out.values())
            if total > 0:
                found[name] = {value: min(1.0, p / total) for value, p in walk.out.items()}
        return found

    def _walk(self, walk: _Walk, node: dict, n_past: int, row: np.ndarray, mass: float) -> None:
        keys = list(node)
        scores = np.array([np.logaddexp.reduce(row[self.closing]) if key is _END else row[key] for key in keys],
                          dtype=np.float64)
        shares = np.exp(scores - scores.max())
        shares /= shares.sum()
        for key, share in zip(keys, shares):
            if key is _END:
                walk.out[node[_END]] += mass * share
                continue
            child, path = node[key], [key]
            while len(child) == 1 and _END not in child:  # no choice until the next branching point
                (token, child), = child.items()
                path.append(token)
            below = _values_under(child)
            if len(below) == 1:
                walk.out[below[0]] += mass * share
                continue
            after = n_past + len(path)
            # On the answer's own path the logits were recorded while it was generated.
            deeper = walk.rows.get(after) if walk.answer[n_past:after] == path else None
            if deeper is None and mass * share < MIN_SCORED:
                for value in below:  # too little mass to be worth a decode: shared evenly
                    walk.out[value] += mass * share / len(below)
                continue
            if deeper is None:
                deeper = self._decode(n_past, path)
            self._walk(walk, child, after, deeper, mass * share)

    def _decode(self, n_past: int, tokens: list[int]) -> np.ndarray:
        """Logits after ``tokens`` placed at ``n_past`` (the KV cache after it is dropped first)."""
        llama = self.llama
        llama.n_tokens = n_past
        for token in tokens:  # one token per decode: on CPU a 1-token batch is the cheap case
            llama.eval([token])
        return np.ctypeslib.as_array(self._get_logits(llama.ctx, -1), shape=(self.n_vocab,)).copy()


class _Walk:
    """One measurement: the answer's tokens, the logits recorded along them, and the mass found per value."""

    def __init__(self, answer: list[int], rows: dict[int, np.ndarray], out: dict[str, float]):
        self.answer, self.rows, self.out = answer, rows, out


def _values_under(node: dict) -> list[str]:
    found = []
    for key, child in node.items():
        found.extend([child] if key is _END else _values_under(child))
    return found


def _value_start(text: str, key: str) -> int | None:
    """Character offset where the string value of top-level ``key`` starts in JSON ``text`` (after its quote)."""
    decoder = json.JSONDecoder()
    try:
        i = text.index("{") + 1
        while True:
            while text[i] in " \t\n\r,":
                i += 1
            if text[i] != '"':
                return None
            name, i = json.decoder.scanstring(text, i + 1)
            while text[i] in " \t\n\r:":
                i += 1
            if name == key:
                return i + 1 if text[i] == '"' else None
            _, i = decoder.raw_decode(text, i)
    except (ValueError, IndexError):
        return None
