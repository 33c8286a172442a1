"""BERT's WordPiece tokenizer in pure Python: basic splitting, then greedy longest-match pieces.

It follows the reference BERT tokenizer (``tokenization.py``): control characters dropped,
whitespace normalized, CJK characters isolated, optional lower-casing with accents stripped,
punctuation split off, and each word cut into the longest vocabulary pieces (``##`` marks a
continuation); a word that cannot be cut, or longer than 100 characters, is ``[UNK]``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from pathlib import Path

from ..errors import HarnessError

UNKNOWN = "[UNK]"
MAX_WORD_CHARS = 100


def read_vocab(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"cannot read the vocabulary {path}: {e}") from e
    vocab = {token.strip(): i for i, token in enumerate(lines) if token.strip()}
    missing = [t for t in ("[CLS]", "[SEP]", UNKNOWN) if t not in vocab]
    if missing:
        raise HarnessError(f"the vocabulary {path} lacks {', '.join(missing)}")
    return vocab


class WordPiece:
    def __init__(self, vocab: Mapping[str, int], *, lower_case: bool) -> None:
        self.vocab = vocab
        self.lower_case = lower_case

    def tokenize(self, text: str) -> list[str]:
        return [piece for word in self.words(text) for piece in self.pieces(word)]

    def ids(self, tokens: list[str]) -> list[int]:
        return [self.vocab[t] for t in tokens]

    def words(self, text: str) -> list[str]:
        """The basic tokenizer: words and punctuation marks."""
        cleaned = []
        for ch in text:
            code = ord(ch)
            if code == 0 or code == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                cleaned.append(" ")
            elif _is_cjk(code):
                cleaned.append(f" {ch} ")
            else:
                cleaned.append(ch)
        out: list[str] = []
        for word in "".join(cleaned).split():
            if self.lower_case:
                word = "".join(
                    c
                    for c in unicodedata.normalize("NFD", word.lower())
                    if unicodedata.category(c) != "Mn"
                )
            out.extend(_split_punctuation(word))
        return out

    def pieces(self, word: str) -> list[str]:
        if len(word) > MAX_WORD_CHARS:
            return [UNKNOWN]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                return [UNKNOWN]
            pieces.append(found)
            start = end
        return pieces


def _split_punctuation(word: str) -> list[str]:
    out: list[str] = []
    current = ""
    for ch in word:
        if _is_punctuation(ch):
            if current:
                out.append(current)
                current = ""
            out.append(ch)
        else:
            current += ch
    if current:
        out.append(current)
    return out


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def _is_punctuation(ch: str) -> bool:
    code = ord(ch)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )
