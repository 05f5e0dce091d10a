import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from qos.catalogue_io import (
    FILE_FORMATS,
    CatalogueImportError,
    import_catalogue,
    max_import_bytes,
    parse_catalogue,
    read_catalogue_file,
)


class Command(BaseCommand):
    help = (
        "Restore a Storage QoS Class catalogue exported by export_catalogue into an empty catalogue: classes with "
        "their whole history and RSE assignments, in one transaction. A bad file is refused and changes nothing. "
        "Nothing is pushed to Rucio."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "file", help="The catalogue file (.json, .yaml or .yml), or - for standard input."
        )
        parser.add_argument(
            "--as",
            dest="username",
            required=True,
            help="The QoS admin who restores it (logged; revisions keep their own authors).",
        )
        parser.add_argument(
            "--format",
            choices=FILE_FORMATS,
            dest="file_format",
            help="json or yaml (default: the extension).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check the file and show what it would restore; write nothing.",
        )
        parser.add_argument(
            "--allow-missing-authors",
            action="store_true",
            help="Restore revisions whose author has no account here without an author, instead of refusing.",
        )

    def handle(
        self,
        *args,
        file: str,
        username: str,
        file_format: str | None = None,
        dry_run: bool = False,
        allow_missing_authors: bool = False,
        **options,
    ):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}: give the user name of a QoS admin.") from None
        try:
            if file == "-":
                if not file_format:
                    raise CommandError("Reading standard input: say which format with --format json or yaml.")
                data = parse_catalogue(sys.stdin.buffer.read(max_import_bytes() + 1), file_format)
            else:
                data = read_catalogue_file(file, file_format)
            report = import_catalogue(
                data,
                by=user,
                mode="dry-run" if dry_run else "restore",
                missing_authors="unassign" if allow_missing_authors else "refuse",
            )
        except CatalogueImportError as error:
            raise CommandError(f"{file}: refused, nothing was changed. {error.message}") from error
        for line in report.lines():
            self.stdout.write(line)
