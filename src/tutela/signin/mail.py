"""An SMTP backend that requires STARTTLS and verifies the server's certificate."""

import ssl
from functools import cached_property
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.smtp import EmailBackend


class StartTlsEmailBackend(EmailBackend):
    """Django's SMTP backend, with two more options.

    `ca_file` names a PEM file of certificate authorities to trust instead of the system's.
    `allow_plain` must be true to send without TLS; it is meant for a test server only.
    The certificate is always verified, host name included.
    """

    def __init__(self, *args: Any, ca_file: str = "", allow_plain: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.ca_file = ca_file
        if not (self.use_tls or self.use_ssl or allow_plain):
            raise ImproperlyConfigured(
                "Outgoing mail without TLS is rejected: set TUTELA_SMTP_STARTTLS=true, or set "
                "TUTELA_SMTP_ALLOW_PLAIN=true for a test server that has no TLS."
            )

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context
