from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response


class WritableViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """List, read, create and change, but never delete: what the portal records stays (classes are retired,
    requirements withdrawn, actions dropped, instead)."""


def step_action(name: str, doc: str, take: Callable[[Any, Request], Response], **schema: Any) -> Any:
    """The API action ``POST .../<object>/<name>/`` of a viewset, answered by ``take(viewset, request)``: a step
    in the life of the object (a requirement's review, a class's approval). The schema describes it with
    ``doc`` and ``schema`` (what ``extend_schema`` takes: its ``request`` and ``responses``)."""

    def step(self, request, *args, **kwargs):
        return take(self, request)

    # @action routes the method by its name, and the schema describes it with its docstring.
    step.__name__ = name
    step.__doc__ = doc
    return extend_schema(**schema)(action(detail=True, methods=["post"])(step))
