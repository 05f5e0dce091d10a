from __future__ import annotations

from typing import Any

from django.db import models


class ExperimentQuerySet(models.QuerySet):
    def liaised_by(self, user: Any) -> ExperimentQuerySet:
        """Experiments the user is a liaison of."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(liaisons=user)
