"""Abstract bases and fields only: ``common`` has no tables of its own."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models


class Immutable(models.Model):
    """A row that records what happened (a class's revision, a requirement's event): written once, never
    changed, so that the history it tells cannot be rewritten."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError(f"{type(self).__name__} rows are immutable: record a new one instead.")
        super().save(*args, **kwargs)


def user_link(
    *,
    field: type[models.ForeignKey] = models.ForeignKey,
    related_name: str = "+",
    blank: bool = True,
    **options: Any,
) -> models.ForeignKey:
    """A portal account a row names, if any (who wrote, changed or runs something): emptied, the row kept, when
    the account is deleted. The account has no way back to these rows unless ``related_name`` names one."""
    return field(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=blank,
        on_delete=models.SET_NULL,
        related_name=related_name,
        **options,
    )


def optional_link(
    to: Any, *, on_delete: Callable[..., None], related_name: str, **options: Any
) -> models.ForeignKey:
    """A link to another row that may be left empty, in forms too."""
    return models.ForeignKey(
        to, null=True, blank=True, on_delete=on_delete, related_name=related_name, **options
    )


def optional_count(verbose_name: str, help_text: str, *validators: Any) -> models.PositiveIntegerField:
    """A whole number that may be left empty: no promise, or no need stated (``help_text`` says which)."""
    return models.PositiveIntegerField(
        verbose_name, null=True, blank=True, validators=list(validators), help_text=help_text
    )
