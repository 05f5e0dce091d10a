"""Experiments of the data lake and the people who speak for them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse

from .querysets import ExperimentQuerySet


class Experiment(models.Model):
    """An experiment using the data lake (ATLAS, CTA, SKA, LOFAR, ...), with its liaisons among the users."""

    short_name = models.CharField(
        max_length=32,
        unique=True,
        validators=[
            RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", "Letters, digits, '-' and '_' only, e.g. CTA.")
        ],
        help_text="How people say it, e.g. CTA. Also its IAM group: escape/<short name in lower case>.",
    )
    name = models.CharField(max_length=200, help_text="Full name, e.g. Cherenkov Telescope Array.")
    description = models.TextField(blank=True, help_text="Markdown.")
    website = models.URLField(blank=True)
    liaisons = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="liaison_experiments"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ExperimentQuerySet.as_manager()

    class Meta:
        ordering = ["short_name"]

    def __str__(self) -> str:
        return self.short_name

    def get_absolute_url(self) -> str:
        return reverse("engagement:experiment-detail", args=[self.short_name])

    @property
    def iam_group(self) -> str:
        """The IAM group whose members are this experiment's liaisons (see the IAM login)."""
        return f"escape/{self.short_name.lower()}"
