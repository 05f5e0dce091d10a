import time

from django.core.management.base import BaseCommand, CommandError

from portal.load_data import NotEmpty, Sizes, generate


class Command(BaseCommand):
    help = (
        "Fill an empty database with a large generated portal for benchmarks (at scale 1: 10,000 QoS classes, "
        "1,000 RSEs, 5,000 requirements, 2,000 meetings, 20,000 actions). Never on a production database."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="Multiply every size by this (default 1.0; 0.01 for tests).",
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="The same seed gives the same portal (default 1)."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Add to a database that already holds portal data (this run's names get a prefix of their own).",
        )

    def handle(self, *args, scale: float, seed: int, force: bool, **options):
        if scale <= 0:
            raise CommandError("--scale must be more than 0.")
        sizes = Sizes.at(scale)
        self.stdout.write(
            f"Generating at scale {scale} (seed {seed}): {sizes.classes} classes, {sizes.rses} RSEs, "
            f"{sizes.requirements} requirements, {sizes.meetings} meetings, {sizes.actions} actions ..."
        )
        started = time.monotonic()
        try:
            report = generate(scale, seed, force=force)
        except NotEmpty as error:
            raise CommandError(str(error)) from None
        for name, count in report.counts.items():
            self.stdout.write(f"  {name:<22} {count:>8}")
        self.stdout.write(
            f"Done in {time.monotonic() - started:.1f} s; names start with {report.prefix} "
            f"(accounts {report.prefix.lower()}-admin-001 ...; they have no usable password)."
        )
