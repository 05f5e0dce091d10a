from django.apps import AppConfig


class CommonConfig(AppConfig):
    """What every app uses (table cache, API base, Markdown, lookups, logs, CSP, uploads). No concrete models:
    an app only so that its template tags are found."""

    name = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from . import lookups, table_cache, timestamps

        # A text lookup with a NUL character matches nothing, instead of a DataError on PostgreSQL.
        lookups.register()
        # Every write retires what the table cache holds from its table (does nothing while TABLE_CACHE is off).
        table_cache.install()
        # Timestamps parsed by psycopg's C loader instead of Django's Python one (PostgreSQL only).
        timestamps.install()
