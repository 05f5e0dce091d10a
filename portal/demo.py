"""Demo accounts, one per role. Only for the demo: never create these on a production portal."""

from __future__ import annotations

import secrets
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from .choices import Role


class DemoAccount(NamedTuple):
    username: str
    first_name: str
    last_name: str
    roles: tuple[str, ...]


DEMO_ACCOUNTS = (
    DemoAccount("admin", "Aris", "Fkiaras", (Role.MEMBER, Role.QOS_ADMIN)),
    DemoAccount("admin2", "Riccardo", "Di Maria", (Role.MEMBER, Role.QOS_ADMIN)),
    DemoAccount("coordinator", "Paul", "Millar", (Role.MEMBER, Role.COORDINATOR)),
    DemoAccount("liaison-cta", "Frederic", "Gillardo", (Role.MEMBER, Role.LIAISON)),
    DemoAccount("liaison-atlas", "Mario", "Lassnig", (Role.MEMBER, Role.LIAISON)),
    DemoAccount("member", "Marek", "Szuba", (Role.MEMBER,)),
)


def load_accounts(reset_passwords: bool = False) -> dict[str, str | None]:
    """Create the demo accounts if missing. Returns each username with its new password, or None if kept."""
    User = get_user_model()
    passwords: dict[str, str | None] = {}
    for account in DEMO_ACCOUNTS:
        user, created = User.objects.get_or_create(
            username=account.username,
            defaults={
                "first_name": account.first_name,
                "last_name": account.last_name,
                "email": f"{account.username}@demo.invalid",
            },
        )
        user.groups.add(*[Group.objects.get(name=role) for role in account.roles])
        if created or reset_passwords:
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.save(update_fields=["password"])
            passwords[account.username] = password
        else:
            passwords[account.username] = None
    return passwords
