"""gunicorn's access log without the secrets some links carry in their path (docs/operations.md, "Links with
a secret").

An invitation link (/invite/<token>/), the confirmation of a new sign-in address
(/accounts/email/confirm/<token>/), the unlock link (/accounts/unlock/<token>/) and allauth's password reset
link (/accounts/password/reset/key/<key>/) are each a key to an account until used. The access log is read by
more people and kept longer than the database, so the token never reaches it: in the request line, the path,
the query string (a `next=` parameter) and the referrer of the page's own follow-up requests, plain or
percent-encoded. gunicorn.conf.py sets this logger class.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# The path prefixes whose next segment is a secret, as they appear plain or percent-encoded (`%2F`).
_PREFIXES = ("invite", "accounts/email/confirm", "accounts/unlock", "accounts/password/reset/key")
_SECRET = re.compile(
    r"(?P<prefix>(?:/|%2F)(?:"
    + "|".join(p.replace("/", "(?:/|%2F)") for p in _PREFIXES)
    + r")(?:/|%2F))(?P<secret>[^/%?&#\s\"]+)",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: m.group("prefix") + REDACTED, text)


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
