"""The Celery application. Workers: `celery -A igo worker`; periodic jobs: `celery -A igo beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "igo.settings")

app = Celery("igo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
