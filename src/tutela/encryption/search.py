"""Exact-match search on sensitive fields through keyed hashes (HMAC-SHA256).

A sensitive field's plain text never reaches the search vector. When the field is searchable
or holds an id number, the record instead stores keyed hashes of each folded word and of the
whole folded value in `Record.search_tokens` (GIN-indexed). A search hashes its words the same
way and asks for records holding all of them. Without the index key the hashes reveal nothing,
but equal values give equal hashes, so the table shows which records share a value.

Fuzzy name search keeps working on sensitive names because the phonetic keys (lib/names.py)
are stored as keyed hashes too: a query's keys are hashed and compared the same way.
"""

import re
from collections.abc import Iterable

from django.db.models import Q

from tutela.configuration.forms import FormDefinition
from tutela.encryption import envelope
from tutela.encryption.policy import policy_of_form

WORD = re.compile(r"\w+")
WORD_DOMAIN = "word"
VALUE_DOMAIN = "value"
NAME_KEY_DOMAIN = "name-key"


def token_fields(form: FormDefinition) -> list[str]:
    """Return the sensitive fields whose values are findable by exact match."""
    rules = policy_of_form(form)
    id_fields = set(form.semantic.get("id_number", []))
    return [
        name
        for name, field in form.fields.items()
        if name in rules.fields and (field.searchable or name in id_fields)
    ]


def tokens_of_texts(folded_texts: Iterable[str]) -> list[str]:
    """Return the keyed hashes of each word and of each whole text, all folded already."""
    tokens: set[str] = set()
    for text in folded_texts:
        whole = " ".join(WORD.findall(text))
        if not whole:
            continue
        tokens.add(envelope.keyed_hash(whole, VALUE_DOMAIN))
        tokens.update(envelope.keyed_hash(word, WORD_DOMAIN) for word in WORD.findall(text))
    return sorted(tokens)


def text_condition(folded_text: str, form: FormDefinition) -> Q | None:
    """Return a condition for records whose sensitive fields hold every word of the text, or
    hold the whole text as one value; None when the form has no such fields.

    NOTE: a text that mixes words of a sensitive field with words found only in the search
    vector (a name and a village) matches neither side; search such words one at a time.
    """
    if not token_fields(form):
        return None
    words = WORD.findall(folded_text)
    if not words:
        return None
    every_word = [envelope.keyed_hash(word, WORD_DOMAIN) for word in words]
    whole = envelope.keyed_hash(" ".join(words), VALUE_DOMAIN)
    return Q(search_tokens__contains=every_word) | Q(search_tokens__contains=[whole])


def hashed_name_keys(keys: Iterable[str]) -> list[str]:
    return sorted({"h:" + envelope.keyed_hash(key, NAME_KEY_DOMAIN) for key in keys})
