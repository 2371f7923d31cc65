"""Per-user data of the pages: the records viewed lately and the saved searches."""

from django.conf import settings
from django.db import models

from tutela.encryption.fields import SealedTextField
from tutela.records.models import Record


class RecentView(models.Model):
    """The last time a user opened a record's page; the home page lists the latest few."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    viewed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "record"], name="recent_view_user_record")
        ]
        indexes = [models.Index(fields=["user", "-viewed_at"], name="recent_view_latest")]

    def __str__(self) -> str:
        return f"{self.user_id} viewed {self.record_id}"


class SavedSearch(models.Model):
    """A search a user named to run again: its text, its mode and the list's filters.

    The text is often a child's name. It is kept here, on the server, and a saved search is
    opened by its id with a POST: the text never goes into an address, where browser history,
    proxies and the access log would keep it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_searches"
    )
    record_type = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=10, default="text")
    # Encrypted at rest (tutela.encryption).
    text = SealedTextField(label="$saved_search.text", blank=True)
    # The list's address parameters: status, scope, sort, option filters.
    filters = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "record_type", "name"], name="saved_search_user_type_name"
            )
        ]

    def __str__(self) -> str:
        return self.name
