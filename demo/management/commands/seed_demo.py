"""`manage.py seed_demo`: make the demo installation (demo/seed.py) and print how to sign in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from demo.people import DEMO_PASSWORD, INSURER_USERS
from demo.seed import seed_demo


class Command(BaseCommand):
    help = "Create demo IGOs, insurers and users for every role, and print the logins."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        demo = seed_demo()
        out = self.stdout
        out.write(self.style.SUCCESS(f"Demo data ready. Open {settings.SITE_URL}/ and sign in with:"))
        width = max(len(r[0]) for r in demo.logins)
        for email, label, where in demo.logins:
            out.write(f"  {email.ljust(width)}  {label:<18} {where}")
        out.write(f"  password for every demo user: {DEMO_PASSWORD}")
        out.write(
            "  Every demo user sets up a second factor at the first sign-in: an authenticator app (TOTP) or a\n"
            "  passkey / security key (open the site on http://localhost for passkeys), plus recovery codes."
        )
        out.write("Claim batches:")
        for row in demo.batches:
            out.write(f"  {row}")
        out.write("Payouts to the members (prepared by finance@, released by controller@):")
        for row in demo.payouts:
            out.write(f"  {row}")
        out.write(
            f"Insurer API key of {INSURER_USERS[0][0]} ({demo.key_insurer}): {demo.key or demo.key_note}"
        )
        if demo.key:
            out.write(
                "  This is a DEMO key, printed for trying the insurer API (Authorization: Bearer <key>) on this\n"
                "  demo installation only; anyone who reads this output can use it. It works once its maker has\n"
                "  signed in and set up a second factor. Revoke it under API keys in the insurer portal."
            )
