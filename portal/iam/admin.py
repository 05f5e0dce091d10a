from django.contrib import admin

from .models import IamIdentity


@admin.register(IamIdentity)
class IamIdentityAdmin(admin.ModelAdmin):
    """Read-only: identities are written by IAM logins only."""

    list_display = ["user", "subject", "issuer", "last_seen_at"]
    search_fields = ["user__username", "user__email", "subject"]
    readonly_fields = ["user", "issuer", "subject", "groups", "grants", "first_seen_at", "last_seen_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
