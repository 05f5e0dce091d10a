import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qos.catalogue_io import (
    FILE_FORMATS,
    CatalogueImportError,
    dump_catalogue,
    export_catalogue,
    file_format_for,
)


class Command(BaseCommand):
    help = (
        "Export the whole Storage QoS Class catalogue (classes with every revision, RSE assignments) as YAML or "
        "JSON, to keep in git and restore with import_catalogue."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")
        parser.add_argument(
            "--format",
            choices=FILE_FORMATS,
            dest="file_format",
            help="json or yaml (default: from the --output file's extension, else yaml).",
        )

    def handle(self, *args, output: str | None = None, file_format: str | None = None, **options):
        if output:
            try:
                named = file_format_for(output)
            except CatalogueImportError as error:
                if not file_format:
                    raise CommandError(error.message) from error
                named = file_format
            if file_format and file_format != named:
                raise CommandError(
                    f"--format {file_format} does not match the file name {output!r} ({named})."
                )
            file_format = named
        document = export_catalogue()
        text = dump_catalogue(document, file_format or "yaml")
        summary = (
            f"Exported {len(document['classes'])} classes with "
            f"{sum(len(c['revisions']) for c in document['classes'])} revisions and "
            f"{len(document['rse_assignments'])} RSE assignments"
        )
        if not output:
            self.stdout.write(text, ending="")
            # Standard output carries only the document (it is often redirected to a file): the summary goes
            # to standard error.
            self.stderr.write(f"{summary}.")
            return
        _write_atomically(Path(output), text)
        self.stdout.write(f"{summary} to {output}.")


def _write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file in the same directory: a failed export never leaves half a file."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as error:
        raise CommandError(f"Cannot write {str(path)!r}: {error.strerror or error}.") from error
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
        # mkstemp makes the file private (0600); give it the mode any new file would get.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise CommandError(f"Cannot write {str(path)!r}: {error.strerror or error}.") from error
