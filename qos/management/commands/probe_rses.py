from django.core.management.base import BaseCommand, CommandError

from qos.models import RSE, RucioInstance
from qos.probing import probe_rse, probeable


class Command(BaseCommand):
    help = (
        "Probe RSEs through Rucio now, in the foreground (write, read back and delete a small file), and print "
        "each one's verdict against its class."
    )

    def add_arguments(self, parser):
        parser.add_argument("--instance", help="Name of one Rucio instance (default: every enabled one).")
        parser.add_argument(
            "--rse", action="append", default=[], metavar="NAME", help="Probe this RSE (repeatable)."
        )

    def handle(self, *args, instance: str | None = None, rse: list[str], **options):
        rses = RSE.objects.select_related("instance", "qos_class")
        if instance:
            if not RucioInstance.objects.filter(name=instance).exists():
                known = ", ".join(RucioInstance.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"No Rucio instance named {instance!r} (known: {known}).")
            rses = rses.filter(instance__name=instance)
        if rse:
            unknown = sorted(set(rse) - set(rses.filter(name__in=rse).values_list("name", flat=True)))
            if unknown:
                raise CommandError(f"No such RSE{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.")
            rses = rses.filter(name__in=rse)
        else:
            rses = rses.filter(pk__in=probeable())
        if not rses:
            raise CommandError("No RSE to probe: none carries a class (assign one on /qos/rses/).")
        for one in rses.order_by("name"):
            outcome = probe_rse(one)
            conformance, probe = outcome.conformance, outcome.probe
            measured = (
                f"wrote {probe.write_mbps:.0f} MB/s, read {probe.read_mbps:.0f} MB/s, "
                f"latency {probe.latency_seconds:.2f} s"
                if probe is not None and probe.ok
                else (probe.error if probe is not None else outcome.skipped)
            )
            pending = (
                f" (now {conformance.pending_verdict}: {conformance.pending_count} of "
                f"{conformance.confirmations_needed} probes)"
                if conformance.pending_verdict
                else ""
            )
            self.stdout.write(f"{one.name}: {conformance.verdict}{pending} — {measured}")
            for reason in conformance.reasons:
                self.stdout.write(f"    {reason}")
