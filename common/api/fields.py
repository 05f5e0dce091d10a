from typing import Any

from rest_framework import serializers


class UsernameField(serializers.CharField):
    """The username of the portal account a row names (its ``author``, ``created_by``...): read only, and null
    when the row names none (never set, or the account was deleted). ``author = UsernameField()`` reads
    ``author.username``; another ``source`` may be given."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def bind(self, field_name: str, parent: Any) -> None:
        if self.source is None:
            self.source = f"{field_name}.username"
        super().bind(field_name, parent)
