"""After a backup: call the heartbeat address on success, send an email on failure.

The heartbeat address contains a token, so it comes only from the secrets and is never logged.
Failure messages name the step and the reason, never a child's data or a credential.
"""

import logging
import socket
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import send_mail

logger = logging.getLogger(__name__)

HEARTBEAT_TIMEOUT_SECONDS = 10


def send_heartbeat(summary: str) -> bool:
    """Tell the dead man's switch that a backup succeeded; return whether it responded with 2xx."""
    url = settings.TUTELA_BACKUP_HEARTBEAT_URL
    if not url:
        return False
    if not url.startswith(("https://", "http://")):
        logger.warning("The backup heartbeat address is not http(s); not called")
        return False
    request = urllib.request.Request(  # noqa: S310
        url, data=summary.encode(), method="POST", headers={"User-Agent": "tutela-backup"}
    )
    try:
        with urllib.request.urlopen(request, timeout=HEARTBEAT_TIMEOUT_SECONDS) as response:  # noqa: S310
            ok: bool = 200 <= response.status < 300
            if not ok:
                logger.warning("The backup heartbeat responded with HTTP %d", response.status)
            return ok
    except urllib.error.HTTPError as e:
        logger.warning("The backup heartbeat responded with HTTP %d", e.code)
    except (urllib.error.URLError, OSError) as e:
        logger.warning("The backup heartbeat could not be sent: %s", type(e).__name__)
    return False


def send_failure_email(step: str, reason: str) -> bool:
    """Mail the backup alert addresses; return whether the mail was accepted."""
    recipients = settings.TUTELA_BACKUP_ALERT_EMAILS
    if not recipients:
        logger.warning("The %s failed and TUTELA_BACKUP_ALERT_EMAILS is empty: no email", step)
        return False
    site = settings.TUTELA_SITE_NAME
    subject = f"[Tutela {site}] {step} failed"
    body = (
        f"The {step} on the Tutela site {site} ({settings.TUTELA_SITE_ROLE}, host "
        f"{socket.gethostname()}) failed:\n\n  {reason}\n\n"
        "Until a backup succeeds, the newest backup grows older. See docs/backups.md for the "
        "steps to take.\n"
    )
    try:
        send_mail(subject, body, None, recipients, fail_silently=False)
    except OSError as e:  # smtplib and ssl errors are OSErrors
        logger.error("The backup failure email could not be sent: %s", type(e).__name__)
        return False
    return True
