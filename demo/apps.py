from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo installation (`manage.py seed_demo`): no models, only the seed of the other apps' data."""

    name = "demo"
