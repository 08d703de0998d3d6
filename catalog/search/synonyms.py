"""The shop's synonyms: a text file the shop owner edits (CIS_SYNONYMS_FILE), in the Solr and
Elasticsearch synonym format, read by the built-in engine at search time and handed to
Elasticsearch's `synonym_graph` filter as it is.

    # a comment
    t-shirt, tshirt, tee, t shirt     <- equivalent: each one finds what any of them does
    trainers => sneakers, running shoes   <- one way: "trainers" is searched as those

Terms are a shopper's words as every engine reads them (`search_words`): "T-Shirt" is the two
words "t shirt", so it matches "t shirt" and "t-shirt" alike.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from django.conf import settings

from .base import search_words

logger = logging.getLogger(__name__)

Phrase = tuple[str, ...]  # a term of the file, as words


@dataclass(frozen=True)
class Synonyms:
    """Phrase -> the phrases it is searched as (itself included for an equivalence)."""

    alternatives: dict[Phrase, tuple[Phrase, ...]] = field(default_factory=dict)
    rules: tuple[str, ...] = ()  # the file's rules, without comments or blank lines

    @cached_property
    def longest(self) -> int:
        """The most words a phrase of the file has (0: no synonyms)."""
        return max(map(len, self.alternatives), default=0)

    @cached_property
    def words(self) -> frozenset[str]:
        """Every word of the file: words a shopper means as written."""
        phrases = [*self.alternatives, *(p for ps in self.alternatives.values() for p in ps)]
        return frozenset(word for phrase in phrases for word in phrase)

    def units(self, words: list[str]) -> list[tuple[Phrase, tuple[Phrase, ...] | None]]:
        """`words` cut into the phrases of the file (longest first, left to right) and single
        words: each unit with its alternatives, None for a word the file does not name."""
        units: list[tuple[Phrase, tuple[Phrase, ...] | None]] = []
        start, longest = 0, self.longest
        while start < len(words):
            for size in range(min(longest, len(words) - start), 0, -1):
                phrase = tuple(words[start : start + size])
                if phrase in self.alternatives:
                    units.append((phrase, self.alternatives[phrase]))
                    start += size
                    break
            else:
                units.append(((words[start],), None))
                start += 1
        return units


class SynonymsInvalid(ValueError):
    """A line of a synonyms file that is not a rule: says which and why."""


def synonyms_parse(text: str, *, source: str = "synonyms") -> Synonyms:
    """The rules of `text` (see the module); raises SynonymsInvalid naming the line."""
    alternatives: dict[Phrase, list[Phrase]] = {}
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        sides = line.split("=>")
        if len(sides) > 2:
            raise SynonymsInvalid(f"{source}, line {number}: more than one '=>' in {raw!r}")
        terms = [_phrases(side) for side in sides]
        if not all(terms) or (len(sides) == 1 and len(terms[0]) < 2):
            raise SynonymsInvalid(
                f"{source}, line {number}: {raw!r} is not 'a, b, c' nor 'a, b => c'"
            )
        if len(sides) == 1:
            (group,) = terms
            for phrase in group:
                _add(alternatives, phrase, group)
        else:
            for phrase in terms[0]:
                _add(alternatives, phrase, terms[1])
        rules.append(line)
    return Synonyms({k: tuple(v) for k, v in alternatives.items()}, tuple(rules))


def synonyms_load(path: Path | str | None) -> Synonyms:
    """The synonyms of the file at `path`, read again only once it changes; none when `path`
    is empty or the file does not exist. Raises SynonymsInvalid for a malformed file."""
    if not path:
        return NO_SYNONYMS
    try:
        status = os.stat(path)
    except OSError:
        return NO_SYNONYMS
    key = (str(path), status.st_mtime_ns, status.st_size)
    loaded = _loaded.get("last")
    if loaded is None or loaded[0] != key:
        text = Path(path).read_text(encoding="utf-8")
        loaded = _loaded["last"] = (key, synonyms_parse(text, source=str(path)))
    return loaded[1]


def synonyms_configured() -> Synonyms:
    """The synonyms of CIS_SYNONYMS_FILE; none while it is malformed or unreadable (logged
    once per version of the file): a typo in it must not stop the shop's search."""
    path = settings.CIS_SYNONYMS_FILE
    try:
        return synonyms_load(path)
    except (SynonymsInvalid, OSError, UnicodeDecodeError) as exc:
        try:
            status = os.stat(path)
            key = (str(path), status.st_mtime_ns, status.st_size)
        except OSError:
            key = (str(path), None, None)
        if _loaded.get("last", (None,))[0] != key:
            logger.error("The synonyms are not used: %s", exc)
            _loaded["last"] = (key, NO_SYNONYMS)
        return NO_SYNONYMS


def _phrases(side: str) -> list[Phrase]:
    return list(dict.fromkeys(p for term in side.split(",") if (p := tuple(search_words(term)))))


def _add(alternatives: dict[Phrase, list[Phrase]], phrase: Phrase, more: Iterable[Phrase]):
    kept = alternatives.setdefault(phrase, [])
    kept.extend(p for p in more if p not in kept)


NO_SYNONYMS = Synonyms()
# "last": the last file read, as (its key: path, mtime, size; its synonyms), replaced in one
# step so that a thread never sees one file's key with another's synonyms.
_loaded: dict[str, tuple[tuple, Synonyms]] = {}
