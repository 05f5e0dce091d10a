from django.contrib import admin

from .models import (
    Action,
    ActionReview,
    ActionUpdate,
    Meeting,
    MeetingAttachment,
    MeetingSeries,
    MinutesSection,
    Person,
    Stream,
    TimetableItem,
)


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin):
    list_display = ["letter", "name"]
    filter_horizontal = ["leads"]


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["name", "affiliation", "user"]
    search_fields = ["name", "affiliation", "user__username"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]


@admin.register(MeetingSeries)
class MeetingSeriesAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "interval_days"]
    prepopulated_fields = {"slug": ["name"]}


class TimetableItemInline(admin.TabularInline):
    model = TimetableItem
    fk_name = "meeting"
    extra = 0
    fields = ["position", "title", "parent", "starts_at", "duration_minutes", "speaker", "stream"]
    raw_id_fields = ["parent", "speaker"]


class MinutesSectionInline(admin.StackedInline):
    model = MinutesSection
    extra = 0
    fields = ["position", "title", "stream", "body"]


class AttachmentInline(admin.TabularInline):
    model = MeetingAttachment
    extra = 0
    fields = ["title", "url", "file_name", "size"]
    readonly_fields = ["file_name", "size"]


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ["title", "starts_at", "time_zone", "series"]
    list_filter = ["series"]
    date_hierarchy = "starts_at"
    filter_horizontal = ["attendees"]
    list_select_related = ["series"]
    inlines = [TimetableItemInline, MinutesSectionInline, AttachmentInline]


class ActionUpdateInline(admin.TabularInline):
    """The log is history: shown, never edited here."""

    model = ActionUpdate
    extra = 0
    fields = ["created_at", "author", "old_status", "new_status", "text", "changes", "meeting"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    list_display = ["pk", "text", "stream", "status", "due_date", "raised_at"]
    list_filter = ["status", "stream"]
    search_fields = ["text", "owners__name"]
    list_select_related = ["stream", "raised_at"]
    raw_id_fields = ["raised_at", "qos_class", "experiment"]
    filter_horizontal = ["owners"]
    # Status changes go through the pages or the API, which log them.
    readonly_fields = ["status", "closed_at", "created_by"]
    inlines = [ActionUpdateInline]


@admin.register(ActionReview)
class ActionReviewAdmin(admin.ModelAdmin):
    list_display = ["meeting", "action", "created_at"]
    list_select_related = ["meeting", "action"]
    raw_id_fields = ["meeting", "action"]
