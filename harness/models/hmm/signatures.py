"""Word shapes for the HMM taggers' unknown-word models (in the spirit of TnT, Brants 2000).

A word's *class* is one character summarising its shape; suffix statistics are kept per class, so
``Running`` (capitalised) and ``running`` (lower case) learn different tag distributions, and
numbers, hyphenated words and punctuation-only forms each get their own tree.
"""

from __future__ import annotations

import re
import unicodedata

MAX_SUFFIX = 10  # longest suffix the suffix model looks at (TnT uses 10)
SEP = "\x00"  # separates the class character from the suffix in a key
_DIGIT = re.compile(r"\d")
_ALNUM = re.compile(r"[^\W_]")  # a letter or digit in any script


def word_class(word: str) -> str:
    """One character for the shape of ``word``.

    ``d`` contains a digit, ``p`` has no letter or digit (punctuation, symbols, empty), ``A`` all
    letters upper case (length > 1), ``C`` first character upper case, ``h`` lower case with a
    hyphen, ``l`` anything else (lower case, other scripts).
    """
    if not word:
        return "p"
    if _DIGIT.search(word):
        return "d"
    if not _ALNUM.search(word):
        return "p"
    if word.isupper() and len(word) > 1:
        return "A"
    if word[0].isupper():
        return "C"
    if "-" in word:
        return "h"
    return "l"


def class_and_form(word: str) -> tuple[str, str]:
    """``word_class(word)`` and the form whose endings are read: lower-cased for classes ``C`` and
    ``A`` (so capitalised words share suffixes among themselves), else ``word`` itself."""
    cls = word_class(word)
    return cls, word.lower() if cls in "CA" else word


def suffix_keys(word: str, max_suffix: int = MAX_SUFFIX) -> list[str]:
    """Keys of the suffix tree for ``word``, shortest first: ``class + SEP + suffix``.

    Index 0 is the class root (empty suffix); index i holds the last i characters of
    ``class_and_form``'s form.
    """
    cls, form = class_and_form(word)
    n = min(len(form), max_suffix)
    return [cls + SEP + (form[len(form) - i :] if i else "") for i in range(n + 1)]


def signature(word: str) -> str:
    """A coarse unknown-word symbol for the unsupervised tagger: ``<class:last two characters>``."""
    cls, form = class_and_form(word)
    if cls in "dp":
        form = unicodedata.normalize("NFKC", form)[-1:]  # numbers and punctuation: last character only
    return f"<{cls}:{form[-2:]}>"
