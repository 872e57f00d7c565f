"""Cards that apps above pregnancies add to the episode page, registered in their AppConfig.ready() so that
pregnancies imports none of them. A card names its context function by dotted path: registering it imports
nothing, so a process that never renders the page (a Celery worker) never loads the other app's views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string


@dataclass(frozen=True)
class EpisodeCard:
    """A card of the episode page: its template, and the dotted path of the function that gives the
    template's context from the request and the episode."""

    template: str
    context_path: str

    @property
    def context(self) -> Callable[..., dict[str, Any]]:
        return import_string(self.context_path)


# The page shows the cards in this order, after the line of responsibility.
EPISODE_CARDS: list[EpisodeCard] = []
