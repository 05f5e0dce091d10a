from django.contrib import admin

from common.admin import ReadOnlyAdmin

from . import models


class ContactInline(admin.TabularInline):
    model = models.Contact
    extra = 0


@admin.register(models.Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["short_name", "name", "website"]
    search_fields = ["short_name", "name"]
    filter_horizontal = ["liaisons"]
    inlines = [ContactInline]


@admin.register(models.EngagementRecord)
class EngagementRecordAdmin(admin.ModelAdmin):
    list_display = ["subject", "experiment", "kind", "date", "status"]
    list_filter = ["status", "kind", "experiment"]
    list_select_related = ["experiment"]
    search_fields = ["subject", "who"]


@admin.register(models.Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = ["title", "experiment", "status", "status_changed_at"]
    list_filter = ["status", "experiment"]
    list_select_related = ["experiment"]


@admin.register(models.Requirement)
class RequirementAdmin(ReadOnlyAdmin):
    list_display = [
        "title",
        "experiment",
        "status",
        "storage_media",
        "access_latency",
        "volume_tb",
        "created_at",
    ]
    list_filter = ["status", "experiment", "storage_media"]
    list_select_related = ["experiment"]
    search_fields = ["title"]


@admin.register(models.RequirementEvent)
class RequirementEventAdmin(ReadOnlyAdmin):
    list_display = ["requirement", "kind", "to_status", "author", "created_at"]
    list_select_related = ["requirement__experiment", "author"]


@admin.register(models.ClassLink)
class ClassLinkAdmin(ReadOnlyAdmin):
    list_display = ["requirement", "qos_class", "copies", "linked_by", "linked_at"]
    list_select_related = ["requirement__experiment", "qos_class", "linked_by"]


@admin.register(models.RequirementComment)
class RequirementCommentAdmin(ReadOnlyAdmin):
    list_display = ["requirement", "author", "created_at"]
    list_select_related = ["requirement__experiment", "author"]
