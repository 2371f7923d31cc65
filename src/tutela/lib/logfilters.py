"""Logging filters that keep expected, harmless failures to one line."""

import logging


class OneLineOversizedRequest(logging.Filter):
    """Drop the traceback from Django's log record for an oversized request body.

    Django logs RequestDataTooBig with the full traceback, although the request was only too
    large. The record keeps Django's message, which names the setting and contains no form data.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # A logger configured twice (tests reconfigure logging) may carry the filter twice.
        if getattr(record, "tutela_one_line", False):
            return True
        record.tutela_one_line = True
        request = getattr(record, "request", None)
        path = getattr(request, "path", "?")
        method = getattr(request, "method", "?")
        message = record.getMessage()
        record.msg = "Rejected %s %s with 400: %s"
        record.args = (method, path, message)
        record.exc_info = None
        record.exc_text = None
        return True
