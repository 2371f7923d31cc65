"""System checks of encryption at rest: `tutela.E301` and `tutela.W301`."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from tutela.encryption import keyring


@register()
def check_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report a keys file that cannot be read, and a production site without master keys."""
    try:
        ring = keyring.read_keyring(keyring.keys_path())
    except (keyring.KeyringError, OSError) as e:
        return [
            Error(
                f"The encryption keys cannot be read: {e}",
                hint="Fix the keys file; docs/encryption.md describes its format.",
                id="tutela.E301",
            )
        ]
    if ring.enabled or getattr(settings, "TUTELA_MODE", "production") != "production":
        return []
    return [
        Warning(
            "Encryption at rest is off: no master key is configured, so sensitive values and "
            "uploaded files are stored in clear.",
            hint="Add [master_keys] and index_key to the secrets file (docs/encryption.md).",
            id="tutela.W301",
        )
    ]
