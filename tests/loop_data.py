"""Synthetic data for the label loop's tests: six intents with their own words, texts drawn from them (seeded),
a task over them, and a test-server rule that answers by those words."""

from __future__ import annotations

import json
import random
from pathlib import Path

from lmprog.task import Task
from lmprog.testing import answer_fields, last_user_message

TOPICS = {
    "card_arrival": "card arrive arrived mail post delivery delivered waiting weeks envelope".split(),
    "exchange_rate": "exchange rate currency euro dollar convert conversion pounds abroad yen".split(),
    "lost_card": "lost stolen wallet missing theft thief freeze block pickpocket robbed".split(),
    "top_up": "topup pending balance deposit added funds loaded credit showing yet".split(),
    "cancel": "cancel undo reverse mistake wrong recipient payment stop refund revoke".split(),
    "pin": "pin code forgot reset change atm digits locked number remember".split(),
}
OPENERS = ["hi", "hello", "please help", "question", "urgent", "hey there", "good morning", ""]
CLOSERS = ["thanks", "today", "now", "asap", "please", "cheers", ""]
UNSURE = "hmm"  # texts with this word get a low-confidence answer from the rule


def text_for(topic: str, rng: random.Random) -> str:
    words = rng.sample(TOPICS[topic], 5)
    return " ".join(w for w in (rng.choice(OPENERS), *words, rng.choice(CLOSERS)) if w)


def rows(per_topic: int, seed: int = 0) -> list[dict]:
    """``per_topic`` distinct labelled texts per intent, shuffled (seeded)."""
    rng = random.Random(seed)
    out, seen = [], set()
    for topic in TOPICS:
        made = 0
        while made < per_topic:
            text = text_for(topic, rng)
            if text not in seen:
                seen.add(text)
                out.append({"text": text, "label": topic})
                made += 1
    rng.shuffle(out)
    return out


def task() -> Task:
    return Task(inputs={"text": "the customer's message"}, labels=list(TOPICS), name="intents",
                instructions="Which intent does this banking message express?")


def write_task(folder: Path, train: list[dict] | None = None) -> Path:
    """A task file over the six intents (with ``train.jsonl`` as its train data when given)."""
    labels = folder / "labels.csv"
    labels.write_text("name,description\n" + "".join(f"{t},about {' '.join(w[:3])}\n" for t, w in TOPICS.items()))
    data = ""
    if train is not None:
        write_jsonl(folder / "train.jsonl", train)
        data = '\n[data]\ntrain = "train.jsonl"\n'
    path = folder / "task.toml"
    path.write_text('name = "intents"\ninstructions = "Which intent does this banking message express?"\n'
                    '[inputs]\ntext = "the customer\'s message"\n[labels]\nfile = "labels.csv"\n' + data)
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def topic_of(text: str) -> str:
    """The intent whose words a text uses most (what the test server answers)."""
    words = set(text.lower().split())
    return max(TOPICS, key=lambda t: len(words & set(TOPICS[t])))


def answering_rule(wrong: set[str] = frozenset()):
    """Answers each text's intent (logprob -0.01, confidence about 0.99), with logprob -1.5 for texts that
    contain :data:`UNSURE`, and a wrong intent for texts in ``wrong``."""
    names = list(TOPICS)

    def rule(body):
        user = last_user_message(body)
        label = topic_of(user)
        if any(w in user for w in wrong):
            label = names[(names.index(label) + 1) % len(names)]
        return {"content": answer_fields(label=label), "logprobs": -1.5 if UNSURE in user else -0.01}

    return rule
