from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Experiment engagement"

    def ready(self) -> None:
        from qos import consequences

        from .coverage import breaks_if_assigned
        from .notices import liaisons_of_class

        # The catalogue's plan pages warn when a change leaves an accepted requirement uncovered.
        consequences.register_assignment_check(breaks_if_assigned)
        # A deprecated or retired class is news to the liaisons whose requirements count on it.
        consequences.register_class_audience(liaisons_of_class)
