from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.db.models import Q

from .choices import ClassStatus, RevisionKind


class StorageQoSClassQuerySet(models.QuerySet):
    def create_draft(self, *, by: Any, comment: str = "", **content: Any) -> Any:
        """Create a class as a draft, with its first revision. Raises ValidationError on bad content."""
        qos_class = self.model(**content)
        qos_class.full_clean(exclude=["status", "revision"])
        with transaction.atomic():
            qos_class.save()
            qos_class._add_revision(
                by, RevisionKind.CREATED, comment, changed=[name for name, value in content.items() if value]
            )
            qos_class.save(update_fields=["revision"])
        return qos_class

    def awaiting_approval(self) -> StorageQoSClassQuerySet:
        return self.filter(Q(status=ClassStatus.PROPOSED) | Q(pending_revision__isnull=False))

    def approved(self) -> StorageQoSClassQuerySet:
        return self.filter(status=ClassStatus.APPROVED)

    def search(self, text: str) -> StorageQoSClassQuerySet:
        text = text.strip()
        if not text:
            return self
        return self.filter(
            Q(label__icontains=text) | Q(title__icontains=text) | Q(description__icontains=text)
        )
