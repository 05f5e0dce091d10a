"""Form fields that the pages of every app ask for in the same way."""

from __future__ import annotations

from django import forms


def change_note(help_text: str = "", *, label: str | None = None, rows: int = 2) -> forms.CharField:
    """An optional note of why a change is made, kept with it in the row's history (a class's revisions, a
    requirement's events, an action's log); ``help_text`` tells the user where."""
    return forms.CharField(
        label=label, required=False, widget=forms.Textarea(attrs={"rows": rows}), help_text=help_text
    )
