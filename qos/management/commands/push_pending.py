from django.core.management.base import BaseCommand, CommandError

from qos.models import Push
from qos.rucio_gateway import TransientRucioError
from qos.rucio_gateway.sync import deliver


class Command(BaseCommand):
    help = "Send every queued push to Rucio now, in this process (for operators; the sweeper does it too)."

    def handle(self, *args, **options):
        ids = list(Push.objects.unsent().order_by("pk").values_list("pk", flat=True))
        if not ids:
            self.stdout.write("No push is waiting.")
            return
        try:
            # Now, as the operator asks: also the pushes still waiting out their wait after a fault.
            report = deliver(ids, waited_or_not=True)
        except TransientRucioError as error:
            raise CommandError(f"Rucio is not reachable now ({error}); the pushes stay queued.") from error
        self.stdout.write(
            f"{len(report.written)} written, {len(report.unchanged)} already so, {len(report.failed)} failed, "
            f"{len(report.superseded)} superseded."
        )
        if report.failed:
            raise CommandError("Some pushes failed for good: see the push log.")
