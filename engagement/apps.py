from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Experiment engagement"

    def ready(self) -> None:
        from qos import consequences

        from .impact import assignment_panel, class_panel, proposal_panel
        from .notices import liaisons_of_class

        # The catalogue's pages show what its changes do to the requirements (qos/consequences.py): coverage
        # before RSEs move, the volume committed on a class page, what a proposal would start or stop matching.
        consequences.register_assignment_check(assignment_panel)
        consequences.register_class_check(class_panel)
        consequences.register_proposal_check(proposal_panel)
        # A deprecated or retired class is news to the liaisons whose requirements count on it.
        consequences.register_class_audience(liaisons_of_class)
