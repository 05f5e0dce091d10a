"""Stream coordination's models moved to the ``meetings`` app (its migration 0001 takes them over).

Only Django's record of the models leaves this app: the tables stay where they are, with every row, and
``meetings`` keeps their names (``portal_meeting``, ...).
"""

from django.db import migrations

# Models that others point at come last, so that nothing in the state refers to a removed model.
MOVED = [
    "ActionReview",
    "ActionUpdate",
    "Action",
    "MeetingAttachment",
    "MinutesSection",
    "TimetableItem",
    "Meeting",
    "MeetingSeries",
    "Stream",
    "Person",
]


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0003_list_order_indexes"),
        ("meetings", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name) for name in MOVED],
            database_operations=[],
        )
    ]
