"""Filters shared by the engagement pages and their API lists."""

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from .choices import DocumentStatus, RecordKind, RecordStatus, RequirementStatus
from .models import Contact, Document, EngagementRecord, Experiment, Requirement


@extend_schema_field(OpenApiTypes.STR)
class ExperimentFilter(django_filters.ModelMultipleChoiceFilter):
    """Experiments by short name, repeatable: ``?experiment=CTA&experiment=SKA``."""


def experiment_filter() -> ExperimentFilter:
    # By short name, as people say it and as the API names experiments.
    return ExperimentFilter(
        field_name="experiment__short_name",
        queryset=Experiment.objects.all(),
        to_field_name="short_name",
        widget=forms.CheckboxSelectMultiple,
        # One experiment per row (a foreign key): no row repeats, and SELECT DISTINCT (django-filter's
        # default) would keep the database from reading a page in index order.
        distinct=False,
    )


class RequirementFilterSet(django_filters.FilterSet):
    """Requirements by experiment, status, gap, coverage at risk, and text."""

    q = django_filters.CharFilter(method="filter_text", label="Search")
    experiment = experiment_filter()
    status = django_filters.MultipleChoiceFilter(
        choices=RequirementStatus.choices, widget=forms.CheckboxSelectMultiple, distinct=False
    )
    gap = django_filters.BooleanFilter(
        method="filter_gap", label="Gap (no approved class satisfies it)", widget=forms.NullBooleanSelect
    )

    at_risk = django_filters.BooleanFilter(
        method="filter_at_risk",
        label="Coverage at risk (accepted, too few RSEs in sync)",
        widget=forms.NullBooleanSelect,
    )

    class Meta:
        model = Requirement
        fields = ["q", "experiment", "status", "gap", "at_risk"]

    def filter_text(self, queryset, name, value):
        return queryset.search(value)

    def filter_gap(self, queryset, name, value):
        return queryset.gaps() if value else queryset.not_gaps()

    def filter_at_risk(self, queryset, name, value):
        return queryset.coverage_at_risk() if value else queryset.coverage_not_at_risk()


class EngagementRecordFilterSet(django_filters.FilterSet):
    """Contacts and meetings by experiment, kind and status."""

    experiment = experiment_filter()
    kind = django_filters.MultipleChoiceFilter(
        choices=RecordKind.choices, widget=forms.CheckboxSelectMultiple
    )
    status = django_filters.MultipleChoiceFilter(
        choices=RecordStatus.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = EngagementRecord
        fields = ["experiment", "kind", "status"]


class DocumentFilterSet(django_filters.FilterSet):
    """Documents by experiment and status."""

    experiment = experiment_filter()
    status = django_filters.MultipleChoiceFilter(
        choices=DocumentStatus.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Document
        fields = ["experiment", "status"]


class ContactFilterSet(django_filters.FilterSet):
    experiment = experiment_filter()

    class Meta:
        model = Contact
        fields = ["experiment"]
