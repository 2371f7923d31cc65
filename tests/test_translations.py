"""The French, Spanish, Portuguese and Arabic catalogues are complete, valid and compiled.

An empty msgstr shows the English text, and msgfmt leaves a fuzzy entry out of the .mo file,
so a fuzzy guess also shows English. A .po file changed without `make messages` leaves the
.mo file that Django reads behind it.
"""

import gettext
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parent.parent / "src" / "tutela" / "locale"
LANGUAGES = ["fr", "es", "pt", "ar"]
MSGFMT = shutil.which("msgfmt")
needs_msgfmt = pytest.mark.skipif(
    MSGFMT is None,
    reason="msgfmt is not installed. Install Debian's gettext package to run this test.",
)

# The keywords of the fields that come before an entry's msgstr or msgstr[N] lines.
KEYWORDS = ("msgctxt", "msgid", "msgid_plural")


@dataclass
class Entry:
    """One message of a .po file, with its strings still in their escaped PO form."""

    msgid: str = ""
    msgstrs: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False


def po_path(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "django.po"


def quoted(text: str) -> str:
    """Return the content of a PO string literal such as `"Sign in"`, escapes kept."""
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"invalid PO string, expected text in double quotes: {text!r}")
    return text[1:-1]


def read_po(path: Path) -> list[Entry]:
    """Parse the entries of a .po file written by gettext's tools, the header included."""
    entries: list[Entry] = []
    entry = Entry()
    current = ""

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()

        # A comment or a new msgctxt or msgid after a msgstr starts the next entry.
        starts_entry = line.startswith(("#", "msgctxt ", "msgid "))
        if (not line or starts_entry) and entry.msgstrs:
            entries.append(entry)
            entry, current = Entry(), ""
        if not line:
            continue

        if line.startswith("#~"):
            entry.obsolete = True
        elif line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if current == "msgid":
                entry.msgid += quoted(line)
            elif current == "msgstr":
                entry.msgstrs[-1] += quoted(line)
        elif line.startswith("msgstr"):
            current = "msgstr"
            entry.msgstrs.append(quoted(line.split(None, 1)[1]))
        else:
            keyword, _, value = line.partition(" ")
            if keyword not in KEYWORDS:
                raise ValueError(f"{path}: invalid PO line, unknown keyword: {raw!r}")
            current = keyword
            if keyword == "msgid":
                entry.msgid = quoted(value)

    if entry.msgstrs:
        entries.append(entry)
    return [entry for entry in entries if not entry.obsolete]


def compiled_messages(mo_path: Path) -> dict[object, str]:
    """Return the messages of a .mo file: msgid, or (msgid, plural form index), to text."""
    with mo_path.open("rb") as mo_file:
        catalogue = gettext.GNUTranslations(mo_file)
    # NOTE: _catalog is private. Django's translation code reads it too (trans_real.py, 6.x).
    return dict(catalogue._catalog)  # type: ignore[attr-defined]


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_has_no_empty_translation(language: str) -> None:
    entries = read_po(po_path(language))

    empty = [entry.msgid for entry in entries if "" in entry.msgstrs]

    assert entries, f"{po_path(language)} has no entries"
    assert not empty, f"{language}: {len(empty)} entries have an empty msgstr: {empty[:10]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_has_no_fuzzy_entry(language: str) -> None:
    entries = read_po(po_path(language))

    fuzzy = [entry.msgid for entry in entries if "fuzzy" in entry.flags]

    assert not fuzzy, f"{language}: {len(fuzzy)} entries are marked fuzzy: {fuzzy[:10]}"


@needs_msgfmt
@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_passes_msgfmt_check(language: str) -> None:
    result = subprocess.run(
        [str(MSGFMT), "--check", "--output-file", os.devnull, str(po_path(language))],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, f"msgfmt --check failed for {language}:\n{result.stderr}"


@needs_msgfmt
@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalogue_matches_po(language: str, tmp_path: Path) -> None:
    fresh_mo = tmp_path / "django.mo"
    subprocess.run(
        [str(MSGFMT), "--output-file", str(fresh_mo), str(po_path(language))], check=True
    )
    committed_mo = po_path(language).with_suffix(".mo")

    fresh = compiled_messages(fresh_mo)
    committed = compiled_messages(committed_mo)
    differing = sorted(
        repr(key) for key in fresh.keys() | committed.keys() if fresh.get(key) != committed.get(key)
    )

    assert not differing, (
        f"{committed_mo} does not match its .po file; run `make messages`. "
        f"{len(differing)} messages differ: {differing[:10]}"
    )
