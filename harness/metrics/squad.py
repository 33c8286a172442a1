"""``f1``: SQuAD v1.1 F1 and exact match of the best answer span, in pure Python.

Responses are the model's start and end logits, float32, ``[start..., end...]`` per sample
(outputs 0 and 1 of shape [N, L], or one output [N, L, 2]). Scoring picks, among the 20 best
starts and 20 best ends inside the context, the span of at most 30 tokens with the highest
start + end logit; its text is the context words it covers. Answers and predictions are
compared as the official script does: lower case, no punctuation, no articles, single spaces.
Values are fractions (0..1).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import HarnessError
from .base import MetricResult

N_BEST = 20
MAX_ANSWER_TOKENS = 30
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


class SquadF1:
    def ready(self) -> None:
        pass

    def responses(self, outputs: Sequence[NDArray[Any]]) -> NDArray[Any]:
        if len(outputs) == 1 and outputs[0].ndim == 3 and outputs[0].shape[-1] == 2:
            start, end = outputs[0][..., 0], outputs[0][..., 1]
        elif len(outputs) >= 2:
            start, end = outputs[0], outputs[1]
        else:
            raise ValueError("f1 needs start and end logits: two [N, L] outputs or one [N, L, 2]")
        return np.concatenate([start, end], axis=1).astype("<f4", copy=False)

    def score(self, responses: Mapping[int, bytes], labels: Any) -> MetricResult:
        if not responses:
            raise HarnessError("f1: LoadGen logged no responses to score")
        f1_sum = 0.0
        exact = 0
        for index, data in responses.items():
            if index >= len(labels):
                raise HarnessError("f1: the accuracy log names a sample this dataset lacks")
            sample = labels[index]
            logits = np.frombuffer(data, dtype="<f4")
            token_word = sample["token_word"]
            if logits.size != 2 * len(token_word):
                raise HarnessError(
                    "f1: the accuracy log does not hold start and end logits per token"
                )
            half = len(token_word)
            answer = best_answer(logits[:half], logits[half:], token_word, sample["words"])
            golds = sample["answers"] or [""]
            f1_sum += max(f1_score(answer, gold) for gold in golds)
            exact += max(int(normalize(answer) == normalize(gold)) for gold in golds)
        total = len(responses)
        f1 = f1_sum / total
        em = exact / total
        return MetricResult(
            values={"f1": f1, "exact_match": em},
            # the first line as the reference's accuracy-squad.py prints it (the checker reads it)
            summary=json.dumps({"exact_match": round(100 * em, 3), "f1": round(100 * f1, 3)})
            + f"\nf1 = {f1:.4f}, exact_match = {em:.4f} ({total} questions)",
        )


def best_answer(
    start: NDArray[Any], end: NDArray[Any], token_word: Sequence[int], words: Sequence[str]
) -> str:
    context = np.asarray(token_word) >= 0
    if not context.any():
        return ""
    starts = _top(np.where(context, start, -np.inf))
    ends = _top(np.where(context, end, -np.inf))
    best: tuple[float, int, int] | None = None
    for s in starts:
        for e in ends:
            if e < s or e - s + 1 > MAX_ANSWER_TOKENS:
                continue
            value = float(start[s]) + float(end[e])
            if best is None or value > best[0]:
                best = (value, s, e)
    if best is None:
        return ""
    _, s, e = best
    return " ".join(words[token_word[s] : token_word[e] + 1])


def _top(values: NDArray[Any]) -> list[int]:
    order = np.argsort(-values, kind="stable")[:N_BEST]
    return [int(i) for i in order if np.isfinite(values[i])]


def normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1_score(prediction: str, gold: str) -> float:
    predicted = normalize(prediction).split()
    expected = normalize(gold).split()
    common = Counter(predicted) & Counter(expected)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(expected)
    return 2 * precision * recall / (precision + recall)
