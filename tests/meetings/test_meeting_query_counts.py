"""Meeting and action lists (pages and API) issue a number of SQL queries that does not grow with their rows."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meetings.models import Action, ActionReview, ActionUpdate, Meeting, Person, Stream
from tests.meetings.meeting_factories import make_series, person_for, zurich

pytestmark = pytest.mark.django_db


def add_rows(series, count: int, start: int, owner: Person) -> None:
    """``count`` meetings, each with attendees, an action raised (owned by ``owner`` and someone else), a
    review of the previous meeting's action and an update: every relation a list shows."""
    streams = list(Stream.objects.all())
    meetings = Meeting.objects.bulk_create(
        Meeting(
            series=series,
            title=f"Meeting {i}",
            starts_at=zurich(2020, 1, 1) + datetime.timedelta(days=14 * i),
        )
        for i in range(start, start + count)
    )
    people = Person.objects.bulk_create(Person(name=f"Person {i}") for i in range(start, start + count))
    Meeting.attendees.through.objects.bulk_create(
        Meeting.attendees.through(meeting=m, person=p) for m in meetings for p in (people[0], owner)
    )
    actions = Action.objects.bulk_create(
        Action(
            text=f"Action {i}",
            stream=streams[i % 3],
            raised_at=meeting,
            due_date=datetime.date(2020, 1, 1) + datetime.timedelta(days=i),
            status=["open", "in_progress", "done"][i % 3],
        )
        for i, meeting in enumerate(meetings, start=start)
    )
    Action.owners.through.objects.bulk_create(
        Action.owners.through(action=a, person=p) for a, p in zip(actions, people, strict=True)
    )
    Action.owners.through.objects.bulk_create(Action.owners.through(action=a, person=owner) for a in actions)
    ActionReview.objects.bulk_create(
        ActionReview(meeting=m, action=a) for m, a in zip(meetings[1:], actions, strict=False)
    )
    ActionUpdate.objects.bulk_create(
        ActionUpdate(action=a, text="progress", meeting=a.raised_at) for a in actions
    )


def count_queries(client, url: str) -> int:
    client.get(url)  # warm up: the first request of a client also loads the user's permissions
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


PAGES = [
    "/meetings/",
    "/meetings/?series=t22&when=past",
    "/actions/",
    "/actions/?all=1",
    "/actions/?overdue=true&stream=A",
    "/people/",
    "/",
]


@pytest.mark.parametrize("url", PAGES)
def test_meeting_and_action_pages_queries_do_not_grow_with_rows(client_for, member, url):
    client = client_for(member)
    me = person_for(member)
    series = make_series()
    add_rows(series, 5, 0, me)
    few = count_queries(client, url)
    add_rows(series, 60, 5, me)
    assert count_queries(client, url) == few


def test_meeting_page_queries_do_not_grow_with_its_actions(client_for, member):
    client = client_for(member)
    me = person_for(member)
    series = make_series()
    add_rows(series, 3, 0, me)
    meeting = Meeting.objects.order_by("-starts_at").first()
    url = f"/meetings/{meeting.pk}/"
    few = count_queries(client, url)
    ActionReview.objects.bulk_create(
        ActionReview(meeting=meeting, action=a) for a in Action.objects.exclude(reviews__meeting=meeting)
    )
    add_rows(series, 40, 3, me)
    ActionReview.objects.bulk_create(
        ActionReview(meeting=meeting, action=a) for a in Action.objects.exclude(reviews__meeting=meeting)
    )
    assert meeting.action_reviews.count() > 40
    assert count_queries(client, url) == few


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/meetings/",
        "/api/v1/actions/",
        "/api/v1/actions/?status=open&stream=B&page_size=500",
        "/api/v1/people/",
        "/api/v1/streams/",
    ],
)
def test_api_lists_queries_do_not_grow_with_rows(api_for, member, url):
    client = api_for(member)
    me = person_for(member)
    series = make_series()
    add_rows(series, 5, 0, me)
    few = count_queries(client, url)
    add_rows(series, 60, 5, me)
    assert count_queries(client, url) == few
