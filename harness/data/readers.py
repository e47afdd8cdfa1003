"""Readers for tagged corpora: CoNLL-U (via the ``conllu`` package), two-column ``word<TAB>tag``, and
``word/TAG`` text (one sentence a line, the format of the PKU People's Daily corpus and of the tutorials).

A corpus is a ``TaggedCorpus``: parallel lists of word sequences and tag sequences. Malformed
input raises ``DataError`` naming ``file:line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import conllu

from harness.errors import DataError

TAG_COLUMNS = {"upos": "upos", "xpos": "xpos"}
N_CONLLU_COLUMNS = 10


@dataclass
class TaggedCorpus:
    """Sentences as word lists with one tag per word."""

    words: list[list[str]]
    tags: list[list[str]]

    def __len__(self) -> int:
        return len(self.words)

    @property
    def n_tokens(self) -> int:
        return sum(len(s) for s in self.words)

    def subset(self, idx) -> TaggedCorpus:
        return TaggedCorpus([self.words[i] for i in idx], [self.tags[i] for i in idx])


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"data file {path} does not exist", "check task.path or run the download command")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty", "point task.path at a non-empty file")


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file; bytes that are not UTF-8 give one DataError."""
    lineno = 0
    try:
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                yield lineno, line
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} near line {lineno + 1})",
            "convert it to UTF-8, e.g. iconv -f latin1 -t utf-8",
        ) from None


def _conllu_blocks(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (first line number, text) per sentence block, checking the column count of every token line."""
    lines: list[str] = []
    start = 1
    for lineno, line in _numbered_lines(path):
        stripped = line.rstrip("\n")
        if not stripped.strip():
            if lines:
                yield start, "\n".join(lines) + "\n\n"
                lines = []
            continue
        if not lines:
            start = lineno
        if not stripped.startswith("#"):
            n = len(stripped.split("\t"))
            if n != N_CONLLU_COLUMNS:
                raise DataError(
                    f"{path}:{lineno}: expected {N_CONLLU_COLUMNS} tab-separated CoNLL-U columns, got {n}",
                    "fix or remove that line",
                )
        lines.append(stripped)
    if lines:
        yield start, "\n".join(lines) + "\n\n"


def read_conllu(path: str | Path, tagset: str = "upos") -> TaggedCorpus:
    """Read a CoNLL-U file; multiword-token ranges (``3-4``) and empty nodes (``5.1``) are skipped."""
    path = Path(path)
    if tagset not in TAG_COLUMNS:
        raise DataError(f"unknown tag column {tagset!r}", f"set task.tagset to one of {sorted(TAG_COLUMNS)}")
    _check_file(path)
    column = TAG_COLUMNS[tagset]
    words: list[list[str]] = []
    tags: list[list[str]] = []
    for start, block in _conllu_blocks(path):
        try:
            (sentence,) = conllu.parse(block)
        except Exception as exc:  # conllu raises several types; all mean a malformed block
            raise DataError(f"{path}:{start}: malformed CoNLL-U sentence ({exc})", "fix that sentence") from None
        ws, ts = [], []
        for token in sentence:
            if not isinstance(token["id"], int):  # (3, '-', 4) ranges and (5, '.', 1) empty nodes
                continue
            tag = token[column]
            if tag is None:
                raise DataError(
                    f"{path}:{start}: word {token['form']!r} has no {tagset.upper()} tag",
                    "choose another task.tagset or fix the file",
                )
            ws.append(token["form"])
            ts.append(tag)
        if ws:
            words.append(ws)
            tags.append(ts)
    if not words:
        raise DataError(f"{path} holds no sentences", "point task.path at a CoNLL-U treebank")
    return TaggedCorpus(words, tags)


def read_two_column(path: str | Path) -> TaggedCorpus:
    """Read ``word<TAB>tag`` lines, one token a line, sentences separated by blank lines."""
    path = Path(path)
    _check_file(path)
    words: list[list[str]] = []
    tags: list[list[str]] = []
    ws: list[str] = []
    ts: list[str] = []
    for lineno, line in _numbered_lines(path):
        line = line.rstrip("\n")
        if not line.strip():
            if ws:
                words.append(ws)
                tags.append(ts)
                ws, ts = [], []
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise DataError(f"{path}:{lineno}: expected 'word<TAB>tag', got {len(fields)} column(s)", "fix that line")
        ws.append(fields[0])
        ts.append(fields[1])
    if ws:
        words.append(ws)
        tags.append(ts)
    if not words:
        raise DataError(f"{path} holds no sentences", "point task.path at a word<TAB>tag file")
    return TaggedCorpus(words, tags)


PKU_DOCUMENT_ID = re.compile(r"\d{8}-\d{2}-\d{3}-\d{3}")  # 19980101-01-001-001: date, page, article, paragraph


def parse_word_tag_line(line: str, separator: str = "/") -> tuple[list[str], list[str], str | None]:
    """(words, tags, document id) of one ``word/TAG word/TAG ...`` line (tokens split on whitespace).

    The tag follows the *last* separator, so a word may contain it (``1/2/m`` is the word ``1/2``
    tagged ``m``). PKU conventions: a bracketed compound ``[中央/n 人民/n 广播/vn 电台/n]nt`` keeps its
    words and their own tags (the compound's tag ``nt`` is dropped), and a leading
    ``19980101-01-001-001/m`` token is the paragraph's id, returned as its document id
    (``19980101-01-001``) instead of a word. Raises ValueError naming the bad token."""
    tokens = line.split()
    if tokens and "[" not in line and "]" not in line and not PKU_DOCUMENT_ID.match(tokens[0]):  # the common case
        parts = [t.rpartition(separator) for t in tokens]
        if all(w and tag for w, _, tag in parts):
            return [p[0] for p in parts], [p[2] for p in parts], None
    words, tags, document = [], [], None
    for i, token in enumerate(tokens):
        if i == 0 and PKU_DOCUMENT_ID.fullmatch(token.rsplit(separator, 1)[0]):
            document = token.rsplit(separator, 1)[0].rsplit("-", 1)[0]
            continue
        if token.startswith("[") and token[1:].rpartition(separator)[0]:
            token = token[1:]  # a compound opens (``[/w`` is the word ``[``)
        close = token.rfind("]")
        if close > 0 and separator in token[:close] and separator not in token[close:]:
            token = token[:close]  # a compound closes: ``电台/n]nt``
        word, sep, tag = token.rpartition(separator)
        if not sep or not word or not tag:
            raise ValueError(f"token {token!r} is not word{separator}TAG")
        words.append(word)
        tags.append(tag)
    return words, tags, document


def read_word_tag(path: str | Path, separator: str = "/") -> tuple[TaggedCorpus, list[str]]:
    """Read ``word/TAG`` text, one sentence (or paragraph) a line; blank lines are skipped.

    Returns the corpus and each sentence's document: the PKU paragraph id's article when the line
    carries one, else the line's number (every line its own document)."""
    path = Path(path)
    _check_file(path)
    if not separator or any(c.isspace() for c in separator):
        raise DataError(f"task.separator={separator!r} cannot separate a word from its tag", "use e.g. / or _")
    words: list[list[str]] = []
    tags: list[list[str]] = []
    documents: list[str] = []
    for lineno, line in _numbered_lines(path):
        if not line.strip():
            continue
        try:
            ws, ts, document = parse_word_tag_line(line, separator)
        except ValueError as exc:
            raise DataError(f"{path}:{lineno}: {exc}", f"write every token as word{separator}TAG") from None
        if ws:
            words.append(ws)
            tags.append(ts)
            documents.append(document or str(lineno))
    if not words:
        raise DataError(f"{path} holds no sentences", f"point task.path at word{separator}TAG text")
    return TaggedCorpus(words, tags), documents


def find_split(directory: str | Path, split: str, pattern: str = "*-ud-{split}.conllu") -> Path:
    """The single file in ``directory`` matching ``pattern`` for ``split`` (train/dev/test)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(
            f"data folder {directory} does not exist", "set task.path=<folder with *-ud-train/dev/test.conllu>"
        )
    matches = sorted(directory.glob(pattern.format(split=split)))
    if len(matches) != 1:
        found = "none" if not matches else ", ".join(m.name for m in matches)
        raise DataError(
            f"expected one {pattern.format(split=split)} file in {directory}, found {found}",
            "put exactly one train, dev and test file in the folder",
        )
    return matches[0]
