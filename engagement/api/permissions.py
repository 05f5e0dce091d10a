from typing import Any

from common.api.permissions import ModelPermissions


class EngagementPermissions(ModelPermissions):
    """Model permissions, and on top the experiment rule for edits: only one's own experiments' objects.

    Filing (POST) is checked by the serializer, which knows the experiment asked for; lifecycle steps are
    checked by the model methods they call (a reviewer is not a liaison, and vice versa).
    """

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        if getattr(view, "action", None) in ("update", "partial_update", "destroy"):
            if obj.can_edit(request.user):
                return True
            # The reason a POST for that experiment gets from the serializer, not DRF's generic sentence.
            self.message = obj.edit_refusal()
            return False
        return True
