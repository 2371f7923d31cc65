"""Lockout with a growing delay after failed sign-ins, per account and per client address.

Tutela keeps its own counters (the SignInThrottle table) instead of allauth's rate limits:
allauth counts failures in fixed windows in the cache, which is per process unless a shared
cache is configured, and it has no growing delay. The table is shared by every worker and
survives a restart.

After `free` failures, each further failure locks the key for a delay that doubles, from the
base delay up to the maximum. A successful sign-in clears the account's counter. The
address's counter is not cleared by a success, so that an attacker cannot reset it with an
account of their own between guesses. Like every counter, it starts again from zero once no
failure has come for TUTELA_LOCKOUT_FORGET_AFTER seconds.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tutela.signin.models import SignInThrottle


@dataclass(frozen=True)
class Key:
    value: str
    free_failures: int


def keys_for(username: str, address: str | None) -> list[Key]:
    keys = [Key(f"account:{username.strip().lower()[:150]}", settings.TUTELA_LOCKOUT_FREE_FAILURES)]
    if address:
        keys.append(Key(f"address:{address}", settings.TUTELA_LOCKOUT_ADDRESS_FREE_FAILURES))
    return keys


def delay_after(failures: int, free_failures: int) -> dt.timedelta:
    """Return the lock that follows the given number of failures (zero while still free)."""
    over = failures - free_failures
    if over <= 0:
        return dt.timedelta(0)
    seconds = settings.TUTELA_LOCKOUT_BASE_DELAY * 2 ** min(over - 1, 30)
    return dt.timedelta(seconds=min(seconds, settings.TUTELA_LOCKOUT_MAX_DELAY))


def locked_until(keys: list[Key]) -> dt.datetime | None:
    """Return when the latest lock on any of the keys ends, or None when none is locked."""
    now = timezone.now()
    locks = SignInThrottle.objects.filter(key__in=[key.value for key in keys], locked_until__gt=now)
    ends = [end for end in locks.values_list("locked_until", flat=True) if end is not None]
    return max(ends, default=None)


def record_failure(keys: list[Key]) -> None:
    # NOTE: rows are never deleted, so guesses at many usernames leave one row each. A row
    # whose last failure is older than TUTELA_LOCKOUT_FORGET_AFTER has no effect and could be
    # pruned by a periodic job; none exists yet.
    now = timezone.now()
    with transaction.atomic():
        for key in keys:
            throttle, _ = SignInThrottle.objects.select_for_update().get_or_create(
                key=key.value, defaults={"last_failure_at": now}
            )
            forget_after = dt.timedelta(seconds=settings.TUTELA_LOCKOUT_FORGET_AFTER)
            if now - throttle.last_failure_at > forget_after:
                throttle.failures = 0
            throttle.failures += 1
            throttle.last_failure_at = now
            delay = delay_after(throttle.failures, key.free_failures)
            throttle.locked_until = now + delay if delay else None
            throttle.save()


def record_success(username: str) -> None:
    """Clear the account's counter after a successful sign-in."""
    SignInThrottle.objects.filter(key=keys_for(username, None)[0].value).delete()
