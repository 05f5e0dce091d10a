"""System checks of the Rucio instances the environment describes: a mistake shows at start-up
(``manage.py check``, ``migrate``, ``runserver``), not at the first sync. Each connection checks again."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register

from .rucio_config import configuration_problems


@register(Tags.security)
def check_rucio_instances(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return [
        Error(problem, hint="See README, Configuration.", id="qos.E001")
        for problem in configuration_problems()
    ]
