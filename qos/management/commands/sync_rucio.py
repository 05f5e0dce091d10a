from django.core.management.base import BaseCommand, CommandError

from qos.models import RucioInstance
from qos.rucio_gateway import PermanentRucioError, TransientRucioError
from qos.rucio_gateway.sync import sync_rses


class Command(BaseCommand):
    help = "Import RSEs and their attributes from Rucio and check every RSE for drift."

    def add_arguments(self, parser):
        parser.add_argument("--instance", help="Name of one Rucio instance (default: every enabled one).")

    def handle(self, *args, instance: str | None = None, **options):
        RucioInstance.objects.from_environment()
        instances = RucioInstance.objects.filter(enabled=True)
        if instance:
            instances = RucioInstance.objects.filter(name=instance)
            if not instances:
                known = ", ".join(RucioInstance.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"No Rucio instance named {instance!r} (known: {known}).")
        if not instances:
            raise CommandError(
                "No Rucio instance: set RUCIO_HOST or RUCIO_INSTANCES (see README, Configuration)."
            )
        failed = False
        for rucio in instances:
            try:
                report = sync_rses(rucio)
            except (TransientRucioError, PermanentRucioError) as error:
                failed = True
                RucioInstance.objects.filter(pk=rucio.pk).update(last_error=str(error))
                self.stderr.write(f"{rucio.name}: {error}")
                continue
            self.stdout.write(
                f"{rucio.name}: {len(report.new)} new, {len(report.updated)} updated, "
                f"{len(report.missing)} gone from Rucio{(' (' + ', '.join(report.missing) + ')') if report.missing else ''}"
            )
        if failed:
            raise CommandError("Some instances could not be synced (see above).")
