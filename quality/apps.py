from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QualityConfig(AppConfig):
    name = "quality"
    verbose_name = _("Quality indicators")

    def ready(self) -> None:
        # The episode page (pregnancies) shows the client experience questionnaire as a card of ours.
        from pregnancies.cards import EPISODE_CARDS, EpisodeCard

        EPISODE_CARDS.append(EpisodeCard("quality/_experience_card.html", "quality.views.experience_card"))
