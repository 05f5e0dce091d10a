import django_filters
from django import forms
from django.db.models import Q

from .choices import ClassStatus, PushState, StorageMedia, SyncState, Verdict
from .models import RSE, Push, RucioInstance, StorageQoSClass


class StorageQoSClassFilterSet(django_filters.FilterSet):
    """Filters of the catalogue, shared by its page and its API list."""

    q = django_filters.CharFilter(method="filter_text", label="Search")
    # distinct=False on columns of the row itself (django-filter's default is True): they repeat no row, and
    # SELECT DISTINCT would keep the database from reading a page in index order.
    status = django_filters.MultipleChoiceFilter(
        choices=ClassStatus.choices, widget=forms.CheckboxSelectMultiple, distinct=False
    )
    storage_media = django_filters.MultipleChoiceFilter(
        choices=StorageMedia.choices, label="Media", widget=forms.CheckboxSelectMultiple, distinct=False
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


class RSEFilterSet(django_filters.FilterSet):
    """Filters of the RSE list, shared by its page and its API."""

    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name")
    sync_state = django_filters.MultipleChoiceFilter(
        choices=SyncState.choices, label="State", widget=forms.CheckboxSelectMultiple, distinct=False
    )
    qos_class = django_filters.ModelChoiceFilter(
        field_name="qos_class", to_field_name="label", queryset=StorageQoSClass.objects.all(), label="Class"
    )
    instance = django_filters.ModelChoiceFilter(
        field_name="instance",
        to_field_name="name",
        queryset=RucioInstance.objects.all(),
        label="Rucio instance",
    )
    missing_in_rucio = django_filters.BooleanFilter(label="Gone from Rucio")
    conformance = django_filters.MultipleChoiceFilter(
        choices=Verdict.choices,
        label="Conformance",
        widget=forms.CheckboxSelectMultiple,
        method="filter_verdict",
    )

    class Meta:
        model = RSE
        fields = ["q", "sync_state", "qos_class", "instance", "missing_in_rucio", "conformance"]

    def filter_verdict(self, queryset, name, value):
        # An RSE never judged has no Conformance row: it is unknown.
        wanted = Q(conformance__verdict__in=value)
        if Verdict.UNKNOWN in value:
            wanted |= Q(conformance__isnull=True)
        return queryset.filter(wanted)


class PushFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=PushState.choices, widget=forms.CheckboxSelectMultiple, distinct=False
    )
    rse = django_filters.CharFilter(field_name="rse__name", label="RSE")

    class Meta:
        model = Push
        fields = ["state", "rse"]
