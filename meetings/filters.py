"""Filters of the meetings and actions, shared by their pages and their API lists."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils import timezone

from .choices import ActionStatus
from .models import Action, Meeting, MeetingSeries, Stream

ANY_YES_NO = forms.Select(choices=[("", "Any"), ("true", "Yes"), ("false", "No")])


class ActionFilterSet(django_filters.FilterSet):
    """``owner`` is a person id or the username of their account; ``stream`` a letter; ``due`` a date."""

    q = django_filters.CharFilter(method="filter_text", label="Search")
    owner = django_filters.CharFilter(
        method="filter_owner", label="Owner", help_text="Person id, or the username of their account."
    )
    mine = django_filters.BooleanFilter(method="filter_mine", label="Mine only", widget=ANY_YES_NO)
    stream = django_filters.ModelChoiceFilter(
        queryset=Stream.objects.all(), to_field_name="letter", empty_label="All streams"
    )
    # distinct=False (django-filter's default is True): a column of the action itself repeats no row, and
    # SELECT DISTINCT would keep the database from reading a page of the board in index order.
    status = django_filters.MultipleChoiceFilter(
        choices=ActionStatus.choices, widget=forms.CheckboxSelectMultiple, distinct=False
    )
    due = django_filters.DateFilter(field_name="due_date", label="Due on")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte", label="Due by")
    due_after = django_filters.DateFilter(field_name="due_date", lookup_expr="gte", label="Due from")
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Overdue", widget=ANY_YES_NO)
    raised_at = django_filters.NumberFilter(field_name="raised_at", label="Raised at meeting (id)")

    class Meta:
        model = Action
        fields = ["q", "owner", "mine", "stream", "status", "due", "due_before", "due_after", "overdue"]

    def filter_text(self, queryset, name, value):
        return queryset.search(value)

    def filter_owner(self, queryset, name, value):
        return queryset.owned_by(value)

    def filter_mine(self, queryset, name, value):
        return queryset.owned_by_user(self.request.user) if value and self.request else queryset

    def filter_overdue(self, queryset, name, value):
        overdue = queryset.overdue()
        return overdue if value else queryset.exclude(pk__in=overdue.values("pk"))


class MeetingFilterSet(django_filters.FilterSet):
    series = django_filters.ModelChoiceFilter(
        queryset=MeetingSeries.objects.all(), to_field_name="slug", empty_label="All series"
    )
    when = django_filters.ChoiceFilter(
        method="filter_when", choices=[("upcoming", "Upcoming"), ("past", "Past")], empty_label="Any time"
    )
    # A whole year the calendar has: ?year=0 or ?year=1.5 would reach the database as an impossible date.
    year = django_filters.NumberFilter(
        field_name="starts_at", lookup_expr="year", min_value=1, max_value=9999, decimal_places=0
    )

    class Meta:
        model = Meeting
        fields = ["series", "when", "year"]

    def filter_when(self, queryset, name, value):
        now = timezone.now()
        if value == "upcoming":
            return queryset.filter(starts_at__gte=now).order_by("starts_at")
        return queryset.filter(starts_at__lt=now)
