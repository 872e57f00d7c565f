"""Django REST framework's messages that its own Dutch catalog (rest_framework/locale/nl) leaves in English.

They are listed here with `gettext_noop` so that `makemessages` keeps their Dutch in the project's catalog
(locale/nl), which Django reads before DRF's own; nothing needs to import this module. A message of an
insurer's or member's system error then reads in the platform's language like every other.
"""

from django.utils.translation import gettext_noop

DRF_MESSAGES = (
    gettext_noop("Not a valid string."),
    gettext_noop("A valid biginteger is required."),
    gettext_noop("Must be a valid boolean."),
    gettext_noop('Invalid datetime for the timezone "{timezone}".'),
    gettext_noop("Datetime value out of range."),
    gettext_noop("This dictionary may not be empty."),
    gettext_noop("Integer value too large to convert to float"),
    gettext_noop("Ensure this field has at least {min_length} elements."),
    gettext_noop("Ensure this field has no more than {max_length} elements."),
    gettext_noop('Enter a valid "slug" consisting of Unicode letters, numbers, underscores, or hyphens.'),
    gettext_noop("Must be a valid UUID."),
)
