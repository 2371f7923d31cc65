"""Data keys: the AES-256 keys that encrypt field values and files, each wrapped by a master key.

Master keys never reach the database: they live in the secrets file (see keyring.py). A data
key row holds the data key encrypted (wrapped) under one master key and names that master key,
so rotating a master key rewraps these rows and touches no record or file.
"""

from django.db import models


class Purpose(models.TextChoices):
    # One shared key encrypts field values until the next rotation.
    FIELDS = "fields", "fields"
    # One key per uploaded file and its thumbnail.
    FILE = "file", "file"


class DataKey(models.Model):
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    master_key_id = models.CharField(max_length=64)
    # AES-GCM nonce (12 bytes) followed by the encrypted 32-byte key and its 16-byte tag.
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["master_key_id", "id"], name="datakey_master"),
            models.Index(fields=["purpose", "-id"], name="datakey_purpose"),
        ]

    def __str__(self) -> str:
        return f"data key {self.pk} ({self.purpose}, master {self.master_key_id})"
