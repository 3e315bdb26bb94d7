"""A server's blocklist entries matched against members' text, however it is disguised.

Why this module exists: a blocklist that only matches the raw text is walked around in seconds.
"ｇｏｒｅ" (fullwidth), "gоre" (a Cyrillic о), "go\u200bre" (a zero-width space), "g̶o̶r̶e̶"
(combining strokes), "g o r e", "g.o.r.e" and "blood \u00a0bath" all read as the entry to a
human. Both the text and the entries are therefore brought to one comparable form first
(:func:`fold`), and matching works on words, not on characters:

* characters: format characters (Cf: zero-width spaces and joiners, soft hyphens, bidi marks)
  are dropped; NFKC (fullwidth and mathematical letters, ligatures, odd spaces); look-alike
  letters of other scripts fold to Latin (Unicode's confusables table, from
  ``confusable-homoglyphs``, built once); casefold; combining marks that do not belong to a
  letter (strokes, underlines, "zalgo" stacks) are dropped;
* accents: an accented letter matches its bare letter ("nüde" is "nude"), except in text written
  in an accented language, recognised by at least :data:`ACCENTED_WORDS` of its words carrying
  accents. There accents are spelling ("fromage râpé", Vietnamese "cụm hoa") and are kept;
* words: a word is a run of letters and digits; everything else (spaces, punctuation, symbols,
  emoji) separates words. Han, kana, Hangul and Thai characters are words of one character each,
  so an entry in those scripts matches inside a sentence, and an English word inside Chinese
  text is still a word. An entry matches whole words (``cat`` does not block ``concatenate``),
  a phrase matches its words with any separators between them, and ``*`` matches any run of
  letters or digits inside a word;
* spelled out: single letters separated by short separators ("g o r e", "g.o.r.e",
  "g - o - r - e") are read as one word too, but only the whole run: "c a t e g o r y" is
  "category", not "cat".

Checking is in the path of every command: a text is folded once per check, and a list of
entries is compiled once (cached by the tuple of entries) into indexes looked up per word, so
the cost hardly grows with the number of entries.

What it must never do: change the text that is sent anywhere (folding is only for comparing),
or report an entry other than as staff typed it.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_ENTRY_LENGTH = 100
ACCENTED_WORDS = 2
"""Words with accented letters from which a text counts as written in an accented language."""

SPELLED_GAP = 3
"""The longest separator between two letters of a spelled-out word ("g - o"); a word's letters
are all separated alike ("a g.o.r.e" is "a" and "gore")."""

# Scripts written without spaces: each character is a word of its own.
_SYLLABIC = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1100-\u11ff"  # Hangul jamo
    "\u2e80-\u2fdf"  # CJK radicals
    "\u3005-\u3007"  # 々 〆 〇
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3100-\u318f"  # bopomofo, Hangul compatibility jamo
    "\u31a0-\u31ff"
    "\u3400-\u4dbf"
    "\u4e00-\u9fff"
    "\ua960-\ua97f"
    "\uac00-\ud7ff"  # Hangul syllables
    "\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
_WORD = re.compile(rf"[{_SYLLABIC}]|[^\W_{_SYLLABIC}]+")
_ENTRY_WORD = re.compile(rf"[{_SYLLABIC}]|(?:[^\W_{_SYLLABIC}]|\*)+")
_SYLLABLE = re.compile(rf"[{_SYLLABIC}]")
_WHITESPACE = re.compile(r"\s+")

# Scripts whose look-alikes of Latin letters are ordinary letters (and digits) of living
# languages written on their own, with no Latin around: folding them would only make
# Hebrew, Arabic or Thai words spell Latin ones. Cyrillic, Greek and Armenian are folded even
# though Russian or Greek words then fold too: they are the look-alikes used for spoofing.
_UNFOLDED_SCRIPTS = frozenset(
    [
        "ARABIC",
        "BENGALI",
        "DEVANAGARI",
        "ETHIOPIC",
        "GEORGIAN",
        "GUJARATI",
        "GURMUKHI",
        "HAN",
        "HEBREW",
        "KANNADA",
        "LAO",
        "MALAYALAM",
        "MYANMAR",
        "ORIYA",
        "SINHALA",
        "TAMIL",
        "TELUGU",
        "THAI",
    ]
)
_SMALL_CAPITAL = re.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])")
# Letters with a stroke, hook or bar that Unicode does not decompose ("ł", "ø", "đ", "ɗ"): for
# the matcher they are accented letters like "é".
_LETTER_WITH = re.compile(r"LATIN (?:SMALL|CAPITAL) LETTER ([A-Z]) WITH .*")
# Blank "letters" that print as a space (Hangul fillers).
_BLANK_LETTERS = "\u115f\u1160\u3164\uffa0"


@dataclass(frozen=True)
class _Tables:
    drop_format: dict[int, str | None]
    drop_marks: dict[int, None]
    confusables: dict[int, str]
    base_letters: dict[int, str]
    stray_mark: re.Pattern[str]
    accented: frozenset[str]


def _ranges(code_points: list[int]) -> str:
    """A regex character class body for sorted code points."""
    parts: list[str] = []
    start = prev = code_points[0]
    for cp in [*code_points[1:], -1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(re.escape(chr(start)) + ("" if start == prev else "-" + re.escape(chr(prev))))
        start = prev = cp
    return "".join(parts)


def _confusable_table() -> dict[int, str]:
    """Each non-ASCII look-alike of a Latin letter, mapped to that letter in lower case.

    Built from Unicode's confusables (``confusable-homoglyphs``'s copy), which maps a look-alike
    to its prototype. Corrections make it fit a case-insensitive matcher: the prototype of "m"
    is "rn" and that of a capital "I" is "l" (Unicode's skeletons are for comparing two strings,
    not for reading one); a lower-case letter whose capital is a look-alike (Cyrillic "к", "н",
    "т") folds like its capital, since case does not count here; and the Latin small capitals
    the table lacks ("ᴋ", "ʟ") are added from their Unicode names.
    """
    from confusable_homoglyphs import categories, confusables  # type: ignore[import-untyped]

    def clean(text: str) -> str:
        return text.replace("\u200e", "").replace("\u200f", "")

    table: dict[str, str] = {}
    for key, homoglyphs in confusables.confusables_data.items():
        source = clean(key)
        if len(source) != 1 or source.isascii() or unicodedata.category(source)[0] == "N":
            continue
        script = categories.alias(source)
        if script in _UNFOLDED_SCRIPTS:
            continue
        for homoglyph in homoglyphs:
            target = clean(homoglyph["c"])
            if not (target.isascii() and target.isalpha()):
                continue
            if len(target) > 1 and script != "LATIN" and target != "rn":
                continue  # "Ю" is not "lO"
            if target == "rn":
                target = "m"
            elif target == "l" and "CAPITAL" in unicodedata.name(source, ""):
                target = "i"
            table[source] = target.lower()
            break
    for code_point in range(0x80, 0x2000):  # Latin, Greek, Cyrillic, Armenian, Cherokee
        char = chr(code_point)
        if char in table or not char.isalpha():
            continue
        small_capital = _SMALL_CAPITAL.fullmatch(unicodedata.name(char, ""))
        if small_capital:  # the table lacks some ("ᴋ", "ʟ")
            table[char] = small_capital.group(1).lower()
            continue
        for other in (char.upper(), char.lower()):
            if len(other) == 1 and other in table:
                table[char] = table[other]
                break
    return {ord(source): target for source, target in table.items()}


@functools.cache
def _tables() -> _Tables:
    """Every table, built once (a pass over Unicode and the confusables data: ~0.5 s)."""
    format_chars: list[int] = []
    marks: list[int] = []
    accented: set[str] = set()
    for code_point in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(code_point))
        if category == "Cf":
            format_chars.append(code_point)
        elif category in ("Mn", "Me"):
            marks.append(code_point)
    base_letters: dict[int, str] = {}
    for code_point in [*range(0xC0, 0x530), *range(0x1E00, 0x2000), *range(0xA720, 0xA800)]:
        char = chr(code_point)
        if not char.isalpha():
            continue
        if len(unicodedata.normalize("NFD", char)) > 1:
            accented.add(char)
        elif with_mark := _LETTER_WITH.fullmatch(unicodedata.name(char, "")):
            accented.add(char)
            base_letters[code_point] = with_mark.group(1).lower()
    drop_format: dict[int, str | None] = dict.fromkeys(format_chars)
    drop_format.update(dict.fromkeys(map(ord, _BLANK_LETTERS), " "))
    # A mark left after NFKC on a Latin, Greek or Cyrillic letter (or on a space or a
    # punctuation mark) did not compose into a letter: it is decoration.
    stray = re.compile(rf"(?<=[\x00-\u052f\u1e00-\u1fff])[{_ranges(marks)}]+")
    return _Tables(
        drop_format=drop_format,
        drop_marks=dict.fromkeys(marks),
        confusables=_confusable_table(),
        base_letters=base_letters,
        stray_mark=stray,
        accented=frozenset(accented),
    )


def warm_up() -> None:
    """Build the tables now rather than on the first check."""
    _tables()


# ---------------------------------------------------------------------------------------------
# Folding
# ---------------------------------------------------------------------------------------------


def _fold_chars(text: str) -> tuple[str, bool]:
    """The text with its characters folded, accents kept; and whether it carried decoration."""
    if text.isascii():
        return _WHITESPACE.sub(" ", text.lower()), False
    tables = _tables()
    text = unicodedata.normalize("NFKC", text.translate(tables.drop_format))
    text, stray = tables.stray_mark.subn("", text)
    text = text.translate(tables.drop_marks)  # marks of other scripts, on both sides alike
    text = text.translate(tables.confusables).casefold().translate(tables.confusables)
    return _WHITESPACE.sub(" ", text), stray > 0


@functools.lru_cache(maxsize=4096)
def _bare(word: str) -> str:
    """``word`` without its accents (and folded again: "ё" is a Cyrillic "е", so "e")."""
    if word.isascii():
        return word
    tables = _tables()
    stripped = unicodedata.normalize("NFD", word).translate(tables.drop_marks)
    stripped = unicodedata.normalize("NFC", stripped).translate(tables.base_letters)
    return stripped.translate(tables.confusables)


def _spell(run: list[str], spelled: list[str]) -> None:
    """A run of single letters as a word; without its first letter too when that is the
    article "a" or the pronoun "i" ("a n u d e woman")."""
    if len(run) > 1:
        spelled.append("".join(run))
        if len(run) > 2 and run[0] in ("a", "i"):
            spelled.append("".join(run[1:]))


@dataclass(frozen=True)
class Folded:
    """A text as the matcher reads it: its words and its spelled-out words, in one form."""

    words: tuple[str, ...]
    spelled: tuple[str, ...]
    accented: bool
    """Written in an accented language: accents count (and entries are compared with theirs)."""


def fold(text: str) -> Folded:
    """Fold ``text`` once for every entry of a blocklist."""
    folded, decorated = _fold_chars(text)
    words: list[str] = []
    spelled: list[str] = []
    run: list[str] = []  # single letters so far, and the separator between them
    separator = ""
    last_end = 0
    for match in _WORD.finditer(folded):
        word = match.group()
        between = folded[last_end : match.start()]
        last_end = match.end()
        words.append(word)
        if len(word) > 1 or _SYLLABLE.match(word):
            _spell(run, spelled)
            run = []
        elif not run or len(between) > SPELLED_GAP:
            _spell(run, spelled)
            run = [word]
        elif len(run) == 1 or between == separator:
            run.append(word)
            separator = between
        else:  # "a g.o.r.e": a new separator starts a new run at the last letter
            _spell(run, spelled)
            run = [run[-1], word]
            separator = between
    _spell(run, spelled)
    accented = False
    if not folded.isascii():
        marked = _tables().accented
        accented = not decorated and (
            sum(1 for word in words if not marked.isdisjoint(word)) >= ACCENTED_WORDS
        )
        if not accented:
            words = [_bare(word) for word in words]
            spelled = [_bare(word) for word in spelled]
    return Folded(tuple(words), tuple(spelled), accented)


# ---------------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------------

_Word = str | re.Pattern[str]


@dataclass(frozen=True)
class Entry:
    """One blocklist entry as staff typed it, and its words in both forms (with ``*``)."""

    text: str
    bare: tuple[str, ...]
    marked: tuple[str, ...]
    """With its accents, for text written in an accented language."""


def compile_entry(entry: str) -> Entry:
    """Check and fold one entry; :class:`ValueError` says what is wrong with it."""
    text = entry.strip()
    if not text or len(text) > MAX_ENTRY_LENGTH:
        raise ValueError(f"a blocklist entry must be 1 to {MAX_ENTRY_LENGTH} characters")
    folded, _ = _fold_chars(text)
    words = tuple(word for word in _ENTRY_WORD.findall(folded) if word.strip("*"))
    if not words:
        raise ValueError("a blocklist entry needs a letter or a digit")
    return Entry(text=entry, bare=tuple(_bare(word) for word in words), marked=words)


def _pattern(word: str) -> _Word:
    """A word of an entry: itself, or with ``*`` as any run of letters or digits."""
    if "*" not in word:
        return word
    return re.compile(".*".join(re.escape(part) for part in word.split("*")), re.DOTALL)


def _matches(pattern: _Word, word: str) -> bool:
    return pattern == word if isinstance(pattern, str) else pattern.fullmatch(word) is not None


_Candidate = tuple[int, tuple[_Word, ...]]


@dataclass
class _Index:
    """Entries found by their first word: exact ones in a dict, wildcards by their initial."""

    exact: dict[str, list[_Candidate]] = field(default_factory=dict)
    by_initial: dict[str, list[_Candidate]] = field(default_factory=dict)
    anywhere: list[_Candidate] = field(default_factory=list)

    def add(self, position: int, words: tuple[str, ...]) -> None:
        candidate = (position, tuple(_pattern(word) for word in words))
        first = words[0]
        if "*" not in first:
            self.exact.setdefault(first, []).append(candidate)
        elif not first.startswith("*"):
            self.by_initial.setdefault(first[0], []).append(candidate)
        else:
            self.anywhere.append(candidate)

    def first(self, words: tuple[str, ...], best: int) -> int:
        """The lowest entry position found in ``words``, if lower than ``best``."""
        for start, word in enumerate(words):
            for candidates in (
                self.exact.get(word, ()),
                self.by_initial.get(word[0], ()),
                self.anywhere,
            ):
                for position, patterns in candidates:
                    if position >= best or start + len(patterns) > len(words):
                        continue
                    if all(
                        _matches(pattern, words[start + offset])
                        for offset, pattern in enumerate(patterns)
                    ):
                        best = position
        return best


@dataclass
class _Form:
    """The entries in one form: by their words, and spelled out (their words run together)."""

    words: _Index = field(default_factory=_Index)
    spelled: _Index = field(default_factory=_Index)

    def add(self, position: int, words: tuple[str, ...]) -> None:
        self.words.add(position, words)
        self.spelled.add(position, ("".join(words),))

    def first(self, folded: Folded, best: int) -> int:
        best = self.words.first(folded.words, best)
        return self.spelled.first(folded.spelled, best)


class Blocklist:
    """A server's entries, compiled; :meth:`first_match` is the check."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries: list[str] = []
        self._bare = _Form()
        self._marked = _Form()
        for entry in entries:
            try:
                compiled = compile_entry(entry)
            except ValueError:
                continue  # stored before entries were checked this way; it cannot match
            position = len(self.entries)
            self.entries.append(compiled.text)
            self._bare.add(position, compiled.bare)
            self._marked.add(position, compiled.marked)

    def first_match(self, *texts: str | None) -> str | None:
        """The first entry (in the list's order) found in any of ``texts``, or ``None``."""
        if not self.entries:
            return None
        best = len(self.entries)
        for text in texts:
            if text:
                folded = fold(text)
                best = (self._marked if folded.accented else self._bare).first(folded, best)
        return self.entries[best] if best < len(self.entries) else None


@functools.lru_cache(maxsize=256)
def compile_blocklist(entries: tuple[str, ...]) -> Blocklist:
    """The compiled form of a list of entries, cached (a list changes only when staff edit it)."""
    return Blocklist(entries)
