"""Links a meeting shows (its Indico event, attached links) are https addresses only. Only the fields' validators
change: existing rows are not rewritten, and a page shows a stored non-https address as text, not as a link."""

from django.db import migrations, models

import common.links


class Migration(migrations.Migration):
    dependencies = [
        ("meetings", "0002_person_calendar_secret"),
    ]

    operations = [
        migrations.AlterField(
            model_name="meeting",
            name="indico_url",
            field=models.URLField(
                blank=True, validators=[common.links.validate_https_link], verbose_name="Indico event"
            ),
        ),
        migrations.AlterField(
            model_name="meetingattachment",
            name="url",
            field=models.URLField(blank=True, max_length=500, validators=[common.links.validate_https_link]),
        ),
    ]
