from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Read-only, for models that change only through their lifecycle (revisions, four-eyes, permissions,
    history), which the admin would skip."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
