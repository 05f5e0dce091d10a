from django.core.management.base import BaseCommand, CommandError

from notifications.delivery import send_digests, send_due


class Command(BaseCommand):
    help = (
        "Send every waiting notification now, in this process (for operators and scripts; Celery does it "
        "too). --digests also sends the daily digests now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--digests", action="store_true", help="also send everyone's digest now")

    def handle(self, *args, **options):
        # Now, as the operator asks: also the notifications still waiting out their wait after a fault.
        report = send_due(waited_or_not=True)
        if options["digests"]:
            digests = send_digests()
            report.sent += digests.sent
            report.delayed += digests.delayed
            report.failed += digests.failed
        self.stdout.write(f"{report.sent} sent, {report.delayed} delayed, {report.failed} failed for good.")
        if report.delayed:
            raise CommandError(f"Some could not be sent now and wait: {report.errors[-1]}")
