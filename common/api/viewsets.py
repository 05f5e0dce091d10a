from rest_framework import mixins, viewsets


class WritableViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """List, read, create and change, but never delete: what the portal records stays (classes are retired,
    requirements withdrawn, actions dropped, instead)."""
