"""``question-answering``: SQuAD v1.1 questions for a BERT-style model, tokenized in Python.

The dataset is a folder holding the SQuAD JSON (``file``, default ``dev-v1.1.json``) and the
model's WordPiece vocabulary (``vocab``, default ``vocab.txt``), or the JSON file with the
vocabulary beside it. One sample per question, in file order: ``[CLS] question [SEP] context
[SEP]``, padded to ``max_seq_length``; the question is cut at ``max_query_length`` tokens and
the context at what is left (one window: an answer beyond it cannot be found, as with a
``doc_stride`` of the whole sequence). Three model inputs, in this order: ``input_ids``,
``input_mask``, ``segment_ids`` (``dtype`` int64 or int32).

The labels (for the ``f1`` metric): per sample, the context's words, the word each token
came from (-1 outside the context), and the accepted answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import HarnessError, TooFewSamples
from .dataset import Allocate, Dataset, Param, count, dataset_file, flag, one_of, read_params, text
from .wordpiece import WordPiece, read_vocab

NAME = "question-answering"
PARAMS: Mapping[str, Param] = {
    "file": Param("dev-v1.1.json", text, "a file name"),
    "vocab": Param("vocab.txt", text, "a file name"),
    "max_seq_length": Param(384, count, "an integer > 0"),
    "max_query_length": Param(64, count, "an integer > 0"),
    "lower_case": Param(True, flag, "true or false"),
    "dtype": Param("int64", one_of("int64", "int32"), "int64 or int32"),
}


def load_question_answering(
    path: Path, params: Mapping[str, object], samples: int, allocate: Allocate
) -> Dataset:
    p = read_params(params, PARAMS, name=NAME)
    squad = dataset_file(path, str(p["file"]), name=NAME, what="SQuAD file")
    vocab_path = squad.parent / str(p["vocab"])
    tokenizer = WordPiece(read_vocab(vocab_path), lower_case=bool(p["lower_case"]))
    length = int(p["max_seq_length"])
    if int(p["max_query_length"]) + 4 > length:
        raise HarnessError(f"preprocessor {NAME}: max_query_length leaves no room for context")
    questions = _questions(squad, samples)
    shape = (samples, length)
    ids, mask, segments = (allocate(shape, str(p["dtype"])) for _ in range(3))
    labels: list[dict[str, Any]] = []
    cls, sep = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"]
    for row, (qid, question, context, answers) in enumerate(questions):
        query = tokenizer.ids(tokenizer.tokenize(question))[: int(p["max_query_length"])]
        words = context.split()
        doc: list[int] = []
        origin: list[int] = []
        for w, word in enumerate(words):
            pieces = tokenizer.ids(tokenizer.tokenize(word))
            doc.extend(pieces)
            origin.extend([w] * len(pieces))
        room = length - len(query) - 3
        doc, origin = doc[:room], origin[:room]
        tokens = [cls, *query, sep, *doc, sep]
        used = len(tokens)
        ids[row] = 0
        ids[row, :used] = tokens
        mask[row] = 0
        mask[row, :used] = 1
        segments[row] = 0
        segments[row, len(query) + 2 : used] = 1
        token_word = (
            [-1] * (len(query) + 2) + origin + [-1] * (length - len(query) - 2 - len(origin))
        )
        labels.append({"id": qid, "words": words, "token_word": token_word, "answers": answers})
    return Dataset(features=(ids, mask, segments), labels=labels)


def _questions(path: Path, samples: int) -> list[tuple[str, str, str, list[str]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        out = []
        for article in data["data"]:
            for paragraph in article["paragraphs"]:
                context = str(paragraph["context"])
                for qa in paragraph["qas"]:
                    answers = [str(a["text"]) for a in qa.get("answers", [])]
                    out.append((str(qa["id"]), str(qa["question"]), context, answers))
                    if len(out) == samples:
                        return out
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise HarnessError(f"preprocessor {NAME}: {path} is not a SQuAD file: {e}") from e
    raise TooFewSamples(str(path), found=len(out), wanted=samples, unit="questions")
