from django.db import models


class ActionStatus(models.TextChoices):
    """Where an action stands. Open and in progress are *open*: reviewed at every meeting until closed."""

    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    DROPPED = "dropped", "Dropped"


# The statuses of an action still to be done; carried over to the next meeting's agenda.
OPEN_ACTION_STATUSES = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS)
