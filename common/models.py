"""Abstract bases only: ``common`` has no tables of its own."""

from typing import Any

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
