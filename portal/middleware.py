from django.contrib.auth.middleware import LoginRequiredMiddleware

API_PREFIXES = ("/api/v1/", "/api/schema/")


class PortalLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login, except those marked ``@login_not_required`` (login, health).

    The API is left to DRF: a script with a bearer token must get a 401/403 in JSON, not a redirect to
    the login page.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith(API_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
