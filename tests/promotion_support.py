"""Shared pieces of the promotion tests: a signing site, bundles, edited snapshot contents."""

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tutela.lib.canonical import canonical_json
from tutela.promotion import content as snapshot_content
from tutela.sites import actions as site_actions
from tutela.sites import keys


@pytest.fixture(autouse=True)
def fresh_site_cache() -> Iterator[None]:
    """The site row is cached per process; each test reads it afresh, and leaves no row behind.

    Other tests then render pages without the site query, as they did before this test.
    """
    site_actions.clear_site_cache()
    yield
    site_actions.forget_site_row()


def signing_site(
    role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "demo"
) -> str:
    """Initialise the site, write its key with `keygen`; return its public key."""
    site_actions.init_site(role, name)
    secrets_file = tmp_path / f"{name}-secrets.toml"
    monkeypatch.setenv("TUTELA_SECRETS_FILE", str(secrets_file))
    _, public_key = site_actions.keygen(secrets_file)
    return public_key


def edited(change: Any) -> dict[str, Any]:
    """Return the current snapshot content with `change(content)` applied to a copy."""
    content = copy.deepcopy(snapshot_content.current_content())
    change(content)
    return content


def section(content: dict[str, Any], unique_id: str) -> dict[str, Any]:
    for record_type in content["configuration"]["record_types"]:
        for item in record_type["form_sections"]:
            if item["unique_id"] == unique_id:
                return dict(item)
    raise KeyError(unique_id)


def fields_of(content: dict[str, Any], section_id: str) -> list[dict[str, Any]]:
    for record_type in content["configuration"]["record_types"]:
        for item in record_type["form_sections"]:
            if item["unique_id"] == section_id:
                fields: list[dict[str, Any]] = item["fields"]
                return fields
    raise KeyError(section_id)


def lookup_options(content: dict[str, Any], lookup: str) -> list[dict[str, Any]]:
    for item in content["configuration"]["lookups"]:
        if item["unique_id"] == lookup:
            options: list[dict[str, Any]] = item["options"]
            return options
    raise KeyError(lookup)


def signed_bundle(
    content: dict[str, Any],
    private_key: str,
    key_id: str,
    *,
    versions: tuple[str, str] = ("0.1.0", "0.2.0"),
) -> dict[str, Any]:
    header = {
        "format": "tutela-bundle/1",
        "id": snapshot_content.content_id(content),
        "parent": None,
        "label": "test",
        "author": "designer",
        "created_at": "2026-12-04T12:00:00+00:00",
        "site": "demo",
        "tutela_versions": {"min": versions[0], "below": versions[1]},
        "signer": key_id,
    }
    return {
        "header": header,
        "content": content,
        "signature": keys.sign(private_key, canonical_json(header)),
    }


def encode(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, ensure_ascii=False).encode("utf-8")
