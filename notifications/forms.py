"""The form of a person's notification preferences (shown on their account page)."""

from __future__ import annotations

from typing import Any

from django import forms

from .choices import PERSONAL_KINDS, Delivery
from .models import Preference


class PreferencesForm(forms.Form):
    """One choice per kind of notification: immediately, in the daily digest, or off."""

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        current = Preference.objects.of_user(user)
        for kind in PERSONAL_KINDS:
            self.fields[kind.value] = forms.ChoiceField(
                label=kind.label, choices=Delivery.choices, initial=current[kind.value]
            )

    def save(self) -> None:
        Preference.objects.choose_many(self.user, self.cleaned_data)
