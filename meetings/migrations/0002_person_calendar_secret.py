"""Every person gets a calendar secret, part of their calendar feed's address, so that it can be renewed.

Each existing person gets their own random value: a column default would give all of them the same one.
Addresses of person feeds given out before this migration hold no secret and stop working.
"""

import secrets

from django.db import migrations, models

import meetings.models


def give_each_person_a_secret(apps, schema_editor):
    Person = apps.get_model("meetings", "Person")
    people = list(Person.objects.only("pk"))
    for person in people:
        person.calendar_secret = secrets.token_urlsafe(24)
    Person.objects.bulk_update(people, ["calendar_secret"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("meetings", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="person",
            name="calendar_secret",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(give_each_person_a_secret, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="person",
            name="calendar_secret",
            field=models.CharField(
                default=meetings.models.new_calendar_secret, editable=False, max_length=64
            ),
        ),
    ]
