"""Stream coordination's models, taken over from the ``portal`` app where they were created (its migrations
0002 and 0003). The tables are not touched: they keep their names and every row. Their content types (and
with them the permissions that roles hold, and admin history) are relabelled from ``portal`` to ``meetings``.
"""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import meetings.models

MODELS = [
    "action",
    "actionreview",
    "actionupdate",
    "meeting",
    "meetingattachment",
    "meetingseries",
    "minutessection",
    "person",
    "stream",
    "timetableitem",
]


def relabel_content_types(from_label: str, to_label: str):
    def relabel(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        Permission = apps.get_model("auth", "Permission")
        db = schema_editor.connection.alias
        for model in MODELS:
            old = ContentType.objects.using(db).filter(app_label=from_label, model=model).first()
            if old is None:
                continue  # a new database: post_migrate creates the content types under the new label
            stale = ContentType.objects.using(db).filter(app_label=to_label, model=model).first()
            if stale is not None:
                # Made by an earlier post_migrate; the old row is the one roles and admin history point at.
                Permission.objects.using(db).filter(content_type=stale).delete()
                stale.delete()
            old.app_label = to_label
            old.save(update_fields=["app_label"])
        ContentType.objects.clear_cache()

    return relabel


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("portal", "0003_list_order_indexes"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("engagement", "0004_list_order_indexes"),
        ("qos", "0002_rucio"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="MeetingSeries",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=200)),
                        (
                            "slug",
                            models.SlugField(help_text="In addresses, e.g. t22-fortnightly.", unique=True),
                        ),
                        (
                            "time_zone",
                            models.CharField(
                                default="Europe/Zurich",
                                help_text="Where the meeting's clock is, e.g. Europe/Zurich: the next meeting keeps its local time.",
                                max_length=64,
                                validators=[meetings.models.validate_time_zone],
                            ),
                        ),
                        (
                            "interval_days",
                            models.PositiveSmallIntegerField(
                                default=14,
                                help_text="14: fortnightly.",
                                validators=[
                                    django.core.validators.MinValueValidator(1),
                                    django.core.validators.MaxValueValidator(366),
                                ],
                            ),
                        ),
                        (
                            "duration_minutes",
                            models.PositiveSmallIntegerField(
                                default=60,
                                validators=[
                                    django.core.validators.MinValueValidator(5),
                                    django.core.validators.MaxValueValidator(1440),
                                ],
                            ),
                        ),
                        (
                            "location",
                            models.CharField(
                                blank=True, help_text="Room or video-conference link.", max_length=300
                            ),
                        ),
                        ("description", models.TextField(blank=True, help_text="Markdown.")),
                    ],
                    options={
                        "verbose_name_plural": "meeting series",
                        "db_table": "portal_meetingseries",
                        "ordering": ["name"],
                    },
                ),
                migrations.CreateModel(
                    name="Action",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("text", models.TextField(help_text="What must be done, as said in the meeting.")),
                        (
                            "due_date",
                            models.DateField(blank=True, help_text="Default: the next meeting.", null=True),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("open", "Open"),
                                    ("in_progress", "In progress"),
                                    ("done", "Done"),
                                    ("dropped", "Dropped"),
                                ],
                                default="open",
                                max_length=16,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("closed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "experiment",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="actions",
                                to="engagement.experiment",
                            ),
                        ),
                        (
                            "qos_class",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="actions",
                                to="qos.storageqosclass",
                                verbose_name="QoS class",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_action",
                        "ordering": ["due_date", "pk"],
                    },
                ),
                migrations.CreateModel(
                    name="Meeting",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("title", models.CharField(max_length=200)),
                        ("starts_at", models.DateTimeField(help_text="Stored in UTC.")),
                        (
                            "time_zone",
                            models.CharField(
                                default="Europe/Zurich",
                                max_length=64,
                                validators=[meetings.models.validate_time_zone],
                            ),
                        ),
                        (
                            "duration_minutes",
                            models.PositiveSmallIntegerField(
                                default=60,
                                validators=[
                                    django.core.validators.MinValueValidator(5),
                                    django.core.validators.MaxValueValidator(1440),
                                ],
                            ),
                        ),
                        (
                            "location",
                            models.CharField(
                                blank=True, help_text="Room or video-conference link.", max_length=300
                            ),
                        ),
                        ("indico_url", models.URLField(blank=True, verbose_name="Indico event")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "series",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="meetings",
                                to="meetings.meetingseries",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_meeting",
                        "ordering": ["-starts_at"],
                    },
                ),
                migrations.CreateModel(
                    name="ActionUpdate",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("text", models.TextField(blank=True)),
                        (
                            "old_status",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("open", "Open"),
                                    ("in_progress", "In progress"),
                                    ("done", "Done"),
                                    ("dropped", "Dropped"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "new_status",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("open", "Open"),
                                    ("in_progress", "In progress"),
                                    ("done", "Done"),
                                    ("dropped", "Dropped"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "changes",
                            models.JSONField(
                                blank=True, default=dict, help_text="Edited fields: {name: [before, after]}."
                            ),
                        ),
                        (
                            "action",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="updates",
                                to="meetings.action",
                            ),
                        ),
                        (
                            "author",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "meeting",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="action_updates",
                                to="meetings.meeting",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_actionupdate",
                        "ordering": ["created_at", "pk"],
                    },
                ),
                migrations.AddField(
                    model_name="action",
                    name="raised_at",
                    field=models.ForeignKey(
                        blank=True,
                        help_text="The meeting where the action was raised.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="actions_raised",
                        to="meetings.meeting",
                    ),
                ),
                migrations.CreateModel(
                    name="Person",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "name",
                            models.CharField(help_text="As people say it, e.g. Paul Millar.", max_length=200),
                        ),
                        ("affiliation", models.CharField(blank=True, help_text="e.g. DESY", max_length=200)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "user",
                            models.OneToOneField(
                                blank=True,
                                help_text="The portal account of this person, if any: they may then update the actions they own.",
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="person",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "people",
                        "db_table": "portal_person",
                        "ordering": ["name", "affiliation"],
                    },
                ),
                migrations.AddField(
                    model_name="meeting",
                    name="attendees",
                    field=models.ManyToManyField(
                        blank=True, related_name="meetings_attended", to="meetings.person"
                    ),
                ),
                migrations.AddField(
                    model_name="action",
                    name="owners",
                    field=models.ManyToManyField(related_name="actions", to="meetings.person"),
                ),
                migrations.CreateModel(
                    name="Stream",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "letter",
                            models.CharField(
                                help_text="How people say it: stream A.",
                                max_length=8,
                                unique=True,
                                validators=[
                                    django.core.validators.RegexValidator(
                                        "^[A-Z][A-Z0-9]{0,7}$", "One to eight upper-case letters or digits."
                                    )
                                ],
                            ),
                        ),
                        (
                            "name",
                            models.CharField(help_text="e.g. prototyping and demonstration", max_length=200),
                        ),
                        ("description", models.TextField(blank=True, help_text="Markdown.")),
                        (
                            "leads",
                            models.ManyToManyField(
                                blank=True, related_name="led_streams", to="meetings.person"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_stream",
                        "ordering": ["letter"],
                    },
                ),
                migrations.CreateModel(
                    name="MinutesSection",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("position", models.PositiveSmallIntegerField(default=0)),
                        ("title", models.CharField(max_length=200)),
                        ("body", models.TextField(blank=True, help_text="Markdown.")),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "meeting",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="minutes_sections",
                                to="meetings.meeting",
                            ),
                        ),
                        (
                            "updated_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "stream",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="minutes_sections",
                                to="meetings.stream",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_minutessection",
                        "ordering": ["position", "pk"],
                    },
                ),
                migrations.AddField(
                    model_name="action",
                    name="stream",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="actions",
                        to="meetings.stream",
                    ),
                ),
                migrations.CreateModel(
                    name="TimetableItem",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("position", models.PositiveSmallIntegerField(default=0)),
                        ("title", models.CharField(max_length=300)),
                        (
                            "starts_at",
                            models.DateTimeField(
                                blank=True, help_text="Sub-items usually have no time.", null=True
                            ),
                        ),
                        (
                            "duration_minutes",
                            models.PositiveSmallIntegerField(
                                blank=True,
                                null=True,
                                validators=[django.core.validators.MaxValueValidator(1440)],
                            ),
                        ),
                        ("description", models.TextField(blank=True, help_text="Markdown.")),
                        (
                            "meeting",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="timetable_items",
                                to="meetings.meeting",
                            ),
                        ),
                        (
                            "parent",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="children",
                                to="meetings.timetableitem",
                            ),
                        ),
                        (
                            "speaker",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="timetable_items",
                                to="meetings.person",
                            ),
                        ),
                        (
                            "stream",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="timetable_items",
                                to="meetings.stream",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_timetableitem",
                        "ordering": ["position", "pk"],
                    },
                ),
                migrations.CreateModel(
                    name="ActionReview",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "action",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="reviews",
                                to="meetings.action",
                            ),
                        ),
                        (
                            "meeting",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="action_reviews",
                                to="meetings.meeting",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_actionreview",
                        "ordering": ["action__due_date", "action_id"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("meeting", "action"), name="portal_review_once_per_meeting"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="MeetingAttachment",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("title", models.CharField(max_length=200)),
                        ("url", models.URLField(blank=True, max_length=500)),
                        ("file_name", models.CharField(blank=True, max_length=200)),
                        ("content_type", models.CharField(blank=True, max_length=100)),
                        ("size", models.PositiveIntegerField(default=0)),
                        ("data", models.BinaryField(blank=True, null=True)),
                        ("added_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "added_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "meeting",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="attachments",
                                to="meetings.meeting",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_meetingattachment",
                        "ordering": ["added_at", "pk"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    models.Q(("url", ""), models.Q(("file_name", ""), _negated=True)),
                                    models.Q(models.Q(("url", ""), _negated=True), ("file_name", "")),
                                    _connector="OR",
                                ),
                                name="portal_attachment_link_or_file",
                            )
                        ],
                    },
                ),
                migrations.AddConstraint(
                    model_name="person",
                    constraint=models.UniqueConstraint(
                        fields=("name", "affiliation"), name="portal_person_name_affiliation"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="meeting",
                    constraint=models.UniqueConstraint(
                        fields=("series", "starts_at"), name="portal_meeting_series_start"
                    ),
                ),
                migrations.AddIndex(
                    model_name="action",
                    index=models.Index(fields=["status", "due_date"], name="portal_action_status_due"),
                ),
                migrations.AddIndex(
                    model_name="action",
                    index=models.Index(fields=["due_date", "id"], name="portal_action_due_id"),
                ),
                migrations.AddIndex(
                    model_name="action",
                    index=models.Index(
                        condition=models.Q(("status__in", ("open", "in_progress"))),
                        fields=["due_date", "id"],
                        name="portal_action_open_due",
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(
            relabel_content_types("portal", "meetings"), relabel_content_types("meetings", "portal")
        ),
    ]
