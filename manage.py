#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "igo.settings")
    # Management commands on a developer machine may use the built-in key; the web process (wsgi.py) and
    # Celery never fall back to it, and `check --deploy` flags it.
    if not os.environ.get("SECRET_KEY"):
        os.environ.setdefault("IGO_ALLOW_DEV_SECRET", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
