from django.core.management.base import BaseCommand
from django.db import transaction

from engagement import demo as engagement_demo
from meetings import demo as meetings_demo
from portal import demo as portal_demo
from qos import demo as qos_demo


class Command(BaseCommand):
    help = "Load the demo: one account per role, and the ESCAPE data lake's QoS classes. Running it twice changes nothing."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give the demo accounts new passwords and print them (otherwise existing ones are kept).",
        )

    def handle(self, *args, reset_passwords: bool = False, **options):
        with transaction.atomic():
            passwords = portal_demo.load_accounts(reset_passwords=reset_passwords)
            classes = qos_demo.load()
            experiments = engagement_demo.load()
            # After the other demos: the meetings' actions link to experiments when those exist.
            meetings = meetings_demo.load_meetings()
        self.stdout.write(f"QoS classes created: {', '.join(classes) or 'none (all present)'}")
        self.stdout.write(f"Experiments created: {', '.join(experiments) or 'none (all present)'}")
        self.stdout.write(f"Meetings created: {', '.join(meetings) or 'none (all present)'}")
        self.stdout.write("Demo logins (demo only, never use these accounts in production):")
        for username, password in passwords.items():
            shown = password if password else "(unchanged; use --reset-passwords for a new one)"
            self.stdout.write(f"  {username:<14} {shown}")
