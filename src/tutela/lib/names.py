"""Name normalisation and phonetic keys for fuzzy name search and duplicate detection.

PostgreSQL's contrib extensions (unaccent, fuzzystrmatch, pg_trgm) are not available on the
embedded server, so the keys are computed here and stored on the record in an indexed array:

- `n:<token>`: the token folded to lower-case ASCII (accents removed, Arabic transliterated);
- `p:<code>`: its Metaphone code, with any leading vowel written as "A" (Omar, Umar);
- `s:<skeleton>`: its consonant skeleton (Maryam, Mryam, Miriam all give "mrm").

A search matches a record when, for every token of the query, the record has at least one of
that token's keys; the order of tokens does not matter, so swapped first and last names match.
Candidates are then ranked by string similarity (rapidfuzz) on the folded full names.
"""

import re
import unicodedata

import jellyfish
from rapidfuzz import fuzz

# Arabic letters to Latin, as commonly romanised in names. Short vowels (harakat) are combining
# marks and are removed by fold(); long vowels become a, u, i in the middle of a word.
ARABIC_TO_LATIN = {
    "ا": "a",
    "أ": "a",
    "إ": "i",
    "آ": "a",
    "ٱ": "a",
    "ب": "b",
    "ت": "t",
    "ث": "th",
    "ج": "j",
    "ح": "h",
    "خ": "kh",
    "د": "d",
    "ذ": "dh",
    "ر": "r",
    "ز": "z",
    "س": "s",
    "ش": "sh",
    "ص": "s",
    "ض": "d",
    "ط": "t",
    "ظ": "z",
    "ع": "",
    "غ": "gh",
    "ف": "f",
    "ق": "q",
    "ك": "k",
    "ل": "l",
    "م": "m",
    "ن": "n",
    "ه": "h",
    "ة": "a",
    "و": "w",
    "ي": "y",
    "ى": "a",
    "ء": "",
    "ئ": "y",
    "ؤ": "w",
    "پ": "p",
    "چ": "ch",
    "ڤ": "v",
    "گ": "g",
    "ک": "k",
    "ی": "y",
}
ARABIC_LETTERS = re.compile("[\u0600-\u06ff]")
TOKEN = re.compile(r"[a-z0-9]+")
VOWELS = frozenset("aeiou")
# Prefixes written apart or joined ("Abd Allah", "Abdullah"); keys are made for both forms.
JOINING_PREFIXES = frozenset({"abd", "abdul", "abdel", "abu", "bin", "ibn", "el", "al"})


def fold(text: str) -> str:
    """Lower-case, strip accents and Arabic diacritics, unify Arabic letter variants."""
    decomposed = unicodedata.normalize("NFKD", text)
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return without_marks.replace("\u0640", "").lower()  # U+0640: Arabic tatweel


def transliterate(text: str) -> str:
    """Return `text` folded and written in Latin letters."""
    folded = fold(text)
    if not ARABIC_LETTERS.search(folded):
        return folded
    words = []
    for word in folded.split():
        letters = []
        for index, ch in enumerate(word):
            latin = ARABIC_TO_LATIN.get(ch, ch)
            # Ayn starting a word sounds as a vowel (Ali, Omar, Abd); elsewhere it is dropped.
            # Waw and ya inside a word are usually the long vowels u and i.
            if index == 0 and ch == "ع":
                latin = "a"
            elif index > 0 and ch == "و":
                latin = "u"
            elif index > 0 and ch == "ي":
                latin = "i"
            letters.append(latin)
        words.append("".join(letters))
    return " ".join(words)


def tokens(text: str) -> list[str]:
    return TOKEN.findall(transliterate(text))


def phonetic(token: str) -> str:
    code = jellyfish.metaphone(token)
    if code and code[0] in "AEIOU":
        code = "A" + code[1:]
    return code


def skeleton(token: str) -> str:
    """Return the consonants of `token` without vowels, y, w, h and doubled letters."""
    consonants = [ch for ch in token if ch not in VOWELS and ch not in "ywh"]
    collapsed = [
        ch for index, ch in enumerate(consonants) if index == 0 or ch != consonants[index - 1]
    ]
    return "".join(collapsed)


def token_keys(token: str) -> list[str]:
    keys = [f"n:{token}"]
    if token.isdigit():
        return keys
    code = phonetic(token)
    if code:
        keys.append(f"p:{code}")
    bones = skeleton(token)
    if len(bones) >= 2:
        keys.append(f"s:{bones}")
    return keys


def split_tokens(text: str) -> list[str]:
    """Return the name's tokens, with "abd allah" also given as "abdallah"."""
    parts = tokens(text)
    joined = [
        parts[i] + parts[i + 1] for i in range(len(parts) - 1) if parts[i] in JOINING_PREFIXES
    ]
    return parts + joined


def name_keys(names: list[str]) -> list[str]:
    """Return the sorted, unique keys of all tokens in `names`."""
    keys: set[str] = set()
    for name in names:
        for token in split_tokens(name):
            keys.update(token_keys(token))
    return sorted(keys)


def query_key_groups(query: str) -> list[list[str]]:
    """Return, for each token of a name query, the keys of which a match needs at least one."""
    return [token_keys(token) for token in tokens(query)]


def similarity(query: str, name: str) -> float:
    """Score from 0 to 100 of how alike two names are, ignoring word order."""
    return float(fuzz.token_sort_ratio(transliterate(query), transliterate(name)))
