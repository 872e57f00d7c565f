from django.urls import path

from quality import platform_views

# Under /platform/birth-weight/ (igo.urls): the platform operator's, not an IGO's.
urlpatterns = [
    path("", platform_views.birth_weight_reference, name="birth_weight_reference"),
    path("withdraw/", platform_views.birth_weight_withdraw, name="birth_weight_withdraw"),
]
