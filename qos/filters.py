import django_filters
from django import forms

from .choices import ClassStatus, StorageMedia
from .models import StorageQoSClass


class StorageQoSClassFilterSet(django_filters.FilterSet):
    """Filters of the catalogue, shared by its page and its API list."""

    q = django_filters.CharFilter(method="filter_text", label="Search")
    status = django_filters.MultipleChoiceFilter(
        choices=ClassStatus.choices, widget=forms.CheckboxSelectMultiple
    )
    storage_media = django_filters.MultipleChoiceFilter(
        choices=StorageMedia.choices, label="Media", widget=forms.CheckboxSelectMultiple
    )
    awaiting_approval = django_filters.BooleanFilter(method="filter_awaiting", label="Awaiting approval")

    class Meta:
        model = StorageQoSClass
        fields = ["q", "status", "storage_media", "access_latency", "cost_tier", "awaiting_approval"]

    def filter_text(self, queryset, name, value):
        return queryset.search(value)

    def filter_awaiting(self, queryset, name, value):
        awaiting = queryset.awaiting_approval()
        return awaiting if value else queryset.exclude(pk__in=awaiting.values("pk"))
