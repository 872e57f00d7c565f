"""Reference data that the platform operator maintains for all IGOs."""

from django.contrib import admin

from billing.models import PrestatieCode, ReturnCode


@admin.register(PrestatieCode)
class PrestatieCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "description", "phase", "valid_from", "valid_until"]
    list_filter = ["phase"]
    search_fields = ["code", "description"]


@admin.register(ReturnCode)
class ReturnCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "description", "valid_from", "valid_until"]
    search_fields = ["code", "description"]
