from django.contrib import admin

from common.admin import ReadOnlyAdmin

from .models import Notification, Preference


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The outbox, for the portal admins: what failed for good (a refused address, a bounce) and why."""

    list_display = [
        "created_at",
        "kind",
        "channel",
        "address",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["status", "channel", "kind", "in_digest"]
    search_fields = ["address", "subject", "event_key"]
    date_hierarchy = "created_at"


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "address", "kind", "delivery", "updated_at"]
    list_filter = ["kind", "delivery"]
    search_fields = ["user__username", "address"]
    list_select_related = ["user"]
