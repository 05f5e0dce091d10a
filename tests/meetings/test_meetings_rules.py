"""The rules of meetings and actions, below the pages: carry-over, the CET/CEST change, due dates, the log."""

import datetime
import zoneinfo

import pytest
from django.core.exceptions import ValidationError

from meetings.models import (
    Action,
    ActionReview,
    ActionUpdate,
    Meeting,
    MeetingError,
    Person,
    Stream,
    seed_streams,
)
from tests.meetings.meeting_factories import make_meeting, make_series, raise_action, stream, zurich

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


@pytest.fixture
def series():
    return make_series()


@pytest.fixture
def aris():
    return Person.objects.create(name="Aris Fkiaras", affiliation="CERN")


@pytest.fixture
def martin():
    return Person.objects.create(name="Martin Barisits", affiliation="CERN")


# --- time zones ------------------------------------------------------------------------------------------------
def test_next_meeting_keeps_14_00_zurich_when_summer_time_begins(series):
    # 2020-03-29 (last Sunday of March): CET (UTC+1) becomes CEST (UTC+2).
    meeting = make_meeting(series, zurich(2020, 3, 18))
    assert meeting.starts_at == datetime.datetime(2020, 3, 18, 13, 0, tzinfo=UTC)

    proposed = meeting.proposed_next_start()

    assert proposed == datetime.datetime(2020, 4, 1, 12, 0, tzinfo=UTC)
    local = proposed.astimezone(meeting.zone)
    assert (local.hour, local.minute, local.tzname()) == (14, 0, "CEST")


def test_next_meeting_keeps_14_00_zurich_when_summer_time_ends(series):
    # 2020-10-25 (last Sunday of October): CEST (UTC+2) becomes CET (UTC+1).
    meeting = make_meeting(series, zurich(2020, 10, 21))
    assert meeting.starts_at == datetime.datetime(2020, 10, 21, 12, 0, tzinfo=UTC)

    following = meeting.create_next(by=None)

    assert following.starts_at == datetime.datetime(2020, 11, 4, 13, 0, tzinfo=UTC)
    assert following.local_start.strftime("%Y-%m-%d %H:%M %Z") == "2020-11-04 14:00 CET"


def test_timetable_of_the_next_meeting_follows_the_local_clock(series):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    following = meeting.create_next(by=None)
    starts = [
        item.starts_at.astimezone(following.zone).strftime("%H:%M")
        for item in following.timetable_items.filter(parent__isnull=True)
    ]
    assert starts == ["14:00", "14:10", "14:50"]


def local_slots(meeting: Meeting) -> list[str]:
    return [
        item.starts_at.astimezone(meeting.zone).strftime("%Y-%m-%d %H:%M %Z")
        for item in meeting.timetable_items.filter(parent__isnull=True)
    ]


@pytest.mark.parametrize(
    ("zone", "first", "following", "slots"),
    [
        # Summer time begins between the two (2020-03-29): CET (UTC+1) becomes CEST (UTC+2).
        ("Europe/Zurich", (2020, 3, 18), (2020, 4, 1), ["2020-04-01 14:00 CEST", "14:10 CEST", "14:50 CEST"]),
        # Summer time ends between the two (2020-10-25): CEST becomes CET.
        ("Europe/Zurich", (2020, 10, 21), (2020, 11, 4), ["2020-11-04 14:00 CET", "14:10 CET", "14:50 CET"]),
        # No summer time: the same offset all year.
        ("Asia/Tokyo", (2020, 3, 18), (2020, 4, 1), ["2020-04-01 14:00 JST", "14:10 JST", "14:50 JST"]),
    ],
)
def test_the_next_meeting_at_a_start_given_on_its_clock_keeps_the_timetable_on_that_clock(
    zone, first, following, slots
):
    """Both starts in the meeting's own zone (as the demo gives them), not read back from the database."""
    clock = zoneinfo.ZoneInfo(zone)
    series = make_series(time_zone=zone)
    meeting = Meeting.objects.create(
        series=series, title="QoS", starts_at=datetime.datetime(*first, 14, tzinfo=clock), time_zone=zone
    )
    meeting.add_default_timetable()

    created = meeting.create_next(by=None, starts_at=datetime.datetime(*following, 14, tzinfo=clock))

    shown = local_slots(created)
    assert [shown[0]] + [slot[11:] for slot in shown[1:]] == slots
    assert created.local_start.strftime("%H:%M") == "14:00"


def test_a_timetable_across_the_night_summer_time_begins_keeps_its_wall_clock_times(series):
    # 2020-03-29 in Zurich: 02:00 CET is 03:00 CEST. An item at 03:30, two hours on the clock after a start at
    # 01:30 (one hour in fact), is at 03:30 in the next meeting too, where there is no change.
    meeting = make_meeting(series, zurich(2020, 3, 29, 1, 30))
    meeting.timetable_items.filter(title="AOB").update(starts_at=zurich(2020, 3, 29, 3, 30))

    following = Meeting.objects.create_with_agenda(
        by=None, series=series, title="QoS", starts_at=zurich(2020, 4, 12, 1, 30), time_zone="Europe/Zurich"
    )

    assert (
        following.timetable_items.get(title="AOB").starts_at.astimezone(following.zone).strftime("%H:%M %Z")
        == "03:30 CEST"
    )


# --- carry-over ------------------------------------------------------------------------------------------------
def test_next_meeting_carries_every_open_action_and_no_closed_one(series, aris, martin):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    kept = raise_action(meeting, [aris], "Add the qos key-value pair")
    started = raise_action(meeting, [martin], "Rucio flag")
    started.record_update(by=None, status="in_progress", text="on it")
    done = raise_action(meeting, [martin], "Done already")
    done.record_update(by=None, status="done")
    dropped = raise_action(meeting, [aris], "Not needed")
    dropped.record_update(by=None, status="dropped")
    unattached = Action.objects.create_action(by=None, text="Raised outside a meeting", owners=[aris])

    following = meeting.create_next(by=None)

    carried = set(following.action_reviews.values_list("action_id", flat=True))
    assert carried == {kept.pk, started.pk, unattached.pk}


def test_carry_over_never_duplicates_an_action(series, aris):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    action = raise_action(meeting, [aris])
    following = meeting.create_next(by=None)
    assert following.action_reviews.count() == 1

    assert following.carry_over_open_actions() == 0
    assert following.carry_over_open_actions() == 0
    assert ActionReview.objects.filter(meeting=following, action=action).count() == 1


def test_action_raised_after_the_next_meeting_exists_joins_its_agenda_once(series, aris):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    following = meeting.create_next(by=None)
    late = raise_action(meeting, [aris], "Raised while typing up the minutes")

    assert following.action_reviews.filter(action=late).count() == 1
    assert following.carry_over_open_actions() == 0
    assert late.due_date == datetime.date(2020, 4, 1)


def test_an_action_is_carried_from_meeting_to_meeting_until_it_is_closed(series, aris):
    first = make_meeting(series, zurich(2020, 3, 18))
    action = raise_action(first, [aris])
    second = first.create_next(by=None)
    third = second.create_next(by=None)
    action.record_update(by=None, status="done", text="Done")
    fourth = third.create_next(by=None)

    assert [m.action_reviews.filter(action=action).count() for m in (second, third, fourth)] == [1, 1, 0]


def test_actions_of_a_later_meeting_are_not_reviewed_at_an_earlier_one(series, aris):
    first = make_meeting(series, zurich(2020, 3, 18))
    second = first.create_next(by=None)
    raise_action(second, [aris], "Raised on 1 April")
    assert first.carry_over_open_actions() == 0


def test_a_second_meeting_at_the_same_time_is_refused_and_nothing_is_created(series, aris):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    raise_action(meeting, [aris])
    meeting.create_next(by=None)
    before = (Meeting.objects.count(), ActionReview.objects.count())

    with pytest.raises(MeetingError, match="already has a meeting at 2020-04-01 14:00 CEST"):
        meeting.create_next(by=None)

    assert (Meeting.objects.count(), ActionReview.objects.count()) == before


def test_next_meeting_copies_the_agenda_without_the_minutes_text(series):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    meeting.minutes_sections.filter(title="News").update(body="Rucio workshop -- mostly remote.")
    following = meeting.create_next(by=None)

    assert [s.title for s in following.minutes_sections.all()] == [
        "News",
        "Stream A: prototyping and demonstration",
        "Stream B: engagement with experiments",
        "Stream C: software developments",
        "AOB",
    ]
    assert not any(s.body for s in following.minutes_sections.all())
    round_table = following.timetable_items.get(title="Round table")
    assert [c.stream.letter for c in round_table.children.all()] == ["A", "B", "C"]


def test_a_new_meeting_gets_the_previous_agenda_its_attendees_and_the_open_actions(
    series, aris, martin, coordinator
):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    meeting.minutes_sections.filter(title="News").update(body="Rucio workshop -- mostly remote.")
    kept = raise_action(meeting, [aris], "Add the qos key-value pair")

    created = Meeting.objects.create_with_agenda(
        by=coordinator,
        series=series,
        title="QoS meeting",
        starts_at=zurich(2020, 3, 25),
        time_zone="Europe/Zurich",
        attendees=[aris, martin],
    )

    assert created.created_by == coordinator
    assert set(created.attendees.all()) == {aris, martin}
    assert [s.title for s in created.minutes_sections.all()] == [
        s.title for s in meeting.minutes_sections.all()
    ]
    assert not any(s.body for s in created.minutes_sections.all())
    assert [i.title for i in created.timetable_items.filter(parent__isnull=True)] == [
        "News",
        "Round table",
        "AOB",
    ]
    assert list(created.action_reviews.values_list("action_id", flat=True)) == [kept.pk]


def test_the_first_meeting_of_a_series_gets_the_standard_agenda(series):
    created = Meeting.objects.create_with_agenda(
        by=None, series=series, title="Kick-off", starts_at=zurich(2020, 3, 18), time_zone="Europe/Zurich"
    )
    assert created.created_by is None
    assert [s.title for s in created.minutes_sections.all()][::4] == ["News", "AOB"]
    assert created.timetable_items.filter(parent__title="Round table").count() == 3


def test_a_start_taken_in_the_series_is_refused_except_for_the_meeting_itself(series):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    with pytest.raises(ValidationError, match="already has a meeting at that time"):
        Meeting.objects.check_time_free(series, meeting.starts_at)
    Meeting.objects.check_time_free(series, meeting.starts_at, other_than=meeting)
    Meeting.objects.check_time_free(make_series(slug="other"), meeting.starts_at)


# --- minutes -----------------------------------------------------------------------------------------------------
def test_minutes_record_who_changed_which_section_and_leave_the_others(series, coordinator):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    news, stream_a, *_ = meeting.minutes_sections.all()
    before = stream_a.updated_at

    changed = meeting.save_minutes(
        by=coordinator, bodies={news.pk: "Rucio workshop -- mostly remote.", stream_a.pk: ""}
    )

    assert changed == [news]
    news.refresh_from_db()
    stream_a.refresh_from_db()
    assert (news.body, news.updated_by) == ("Rucio workshop -- mostly remote.", coordinator)
    assert (stream_a.updated_by, stream_a.updated_at) == (None, before)


def test_minutes_naming_a_section_of_another_meeting_are_refused_and_nothing_is_saved(series, coordinator):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    other = make_meeting(series, zurich(2020, 4, 1))
    news = meeting.minutes_sections.get(title="News")
    foreign = other.minutes_sections.get(title="News")

    with pytest.raises(ValidationError, match="a section of this meeting"):
        meeting.save_minutes(by=coordinator, bodies={news.pk: "typed", foreign.pk: "elsewhere"})

    assert not any(s.body for s in [*meeting.minutes_sections.all(), *other.minutes_sections.all()])


# --- due dates and status --------------------------------------------------------------------------------------
def test_due_date_defaults_to_the_next_meeting(series, aris):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    assert raise_action(meeting, [aris]).due_date == datetime.date(2020, 4, 1)
    # With the next meeting already planned on another day, that day is the default.
    Meeting.objects.create(
        series=series, title="moved", starts_at=zurich(2020, 4, 2), time_zone="Europe/Zurich"
    )
    assert raise_action(meeting, [aris]).due_date == datetime.date(2020, 4, 2)


def test_open_action_past_its_due_date_is_overdue(series, aris):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    action = raise_action(meeting, [aris], due_date=datetime.date(2020, 4, 1))
    due_today = raise_action(meeting, [aris], due_date=datetime.date.today())
    assert action.is_overdue
    assert not due_today.is_overdue
    assert list(Action.objects.overdue()) == [action]

    action.record_update(by=None, status="done")
    assert not action.is_overdue
    assert not Action.objects.overdue().exists()


def test_update_logs_who_when_what_and_the_status_change(series, aris, coordinator):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    action = raise_action(meeting, [aris])

    action.record_update(by=coordinator, status="in_progress", text="Started on the testbed", meeting=meeting)
    action.record_update(by=coordinator, status="done", text="All RSEs carry QOS")

    assert action.status == "done"
    assert action.closed_at is not None
    log = list(action.updates.values_list("author__username", "old_status", "new_status", "text", "meeting"))
    assert log == [
        ("carol-coordinator", "open", "in_progress", "Started on the testbed", meeting.pk),
        ("carol-coordinator", "in_progress", "done", "All RSEs carry QOS", None),
    ]


@pytest.mark.parametrize(
    ("status", "text", "message"),
    [
        ("open", "", "Say what happened, or change the status."),
        ("in_progress", "", "cannot become in progress: reopen it first"),
        ("finished", "x", "'finished' is not a status"),
    ],
)
def test_bad_update_is_refused_and_changes_nothing(series, aris, status, text, message):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    action = raise_action(meeting, [aris])
    if status == "in_progress":
        action.record_update(by=None, status="done")
    count = ActionUpdate.objects.count()
    before = action.status

    with pytest.raises(ValidationError, match=message):
        action.record_update(by=None, status=status, text=text)

    action.refresh_from_db()
    assert action.status == before
    assert ActionUpdate.objects.count() == count


def test_a_closed_action_can_be_reopened_and_is_carried_again(series, aris):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    action = raise_action(meeting, [aris])
    action.record_update(by=None, status="done")
    action.record_update(by=None, status="open", text="The flag broke deletion, reopening")
    assert action.closed_at is None
    assert meeting.create_next(by=None).action_reviews.filter(action=action).exists()


def test_an_action_needs_text_and_an_owner(series):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    with pytest.raises(ValidationError) as error:
        meeting.raise_action(by=None, text="  ", owners=[])
    assert set(error.value.message_dict) == {"text", "owners"}
    assert not Action.objects.exists()


def test_stream_sections_follow_the_streams(series):
    meeting = make_meeting(series, zurich(2020, 3, 18))
    assert meeting.minutes_sections.get(stream=stream("B")).title == "Stream B: engagement with experiments"


def test_a_new_database_has_the_three_streams_and_seeding_never_brings_one_back():
    assert list(Stream.objects.values_list("letter", "name")) == [
        ("A", "prototyping and demonstration"),
        ("B", "engagement with experiments"),
        ("C", "software developments"),
    ]
    Stream.objects.filter(letter="C").delete()
    seed_streams()
    assert list(Stream.objects.values_list("letter", flat=True)) == ["A", "B"]
