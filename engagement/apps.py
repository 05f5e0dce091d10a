from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Experiment engagement"

    def ready(self) -> None:
        from qos import consequences

        from .coverage import breaks_if_assigned

        # The catalogue's plan pages warn when a change leaves an accepted requirement uncovered.
        consequences.register_assignment_check(breaks_if_assigned)
