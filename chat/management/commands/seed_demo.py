"""``manage.py seed_demo``: the demo users and rooms ``make run`` needs, created once.

``make run`` calls it on every start. It only adds what is missing: an existing user's password and
flags are never touched, because a password change ends that user's sessions and revokes their
tokens (``SIMPLE_JWT["CHECK_REVOKE_TOKEN"]``), which would log everyone out on each restart.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from chat.models import Membership, Role, Room

DEMO_USERS = ["alice", "bob", "carol", "dave"]
DEMO_STAFF = {"alice"}
DEMO_ROOMS = {
    "lobby": ("Lobby", {"alice": Role.OWNER, "bob": Role.MEMBER, "dave": Role.READER}),
    "staff": ("Staff", {"alice": Role.OWNER}),
    "random": ("Random", {"alice": Role.OWNER, "bob": Role.MEMBER}),
}


class Command(BaseCommand):
    help = (
        "Create the demo users and rooms that are missing (idempotent: existing users keep their "
        "password, sessions and tokens). Refuses to run with DEBUG off."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            default=None,
            help="Password for demo users created now (default: settings.DEMO_PASSWORD).",
        )
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Also set that password on existing demo users (ends their sessions and tokens).",
        )

    @transaction.atomic
    def handle(self, *args, password: str | None, reset_passwords: bool, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates users with a known password; DEBUG is off.")
        password = password or settings.DEMO_PASSWORD
        user_model = get_user_model()
        users, created, reset = {}, [], []
        for username in DEMO_USERS:
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user = user_model(username=username, is_active=True)
                user.is_staff = user.is_superuser = username in DEMO_STAFF
                user.set_password(password)
                user.save()
                created.append(username)
            elif reset_passwords:
                user.set_password(password)
                user.save(update_fields=["password"])
                reset.append(username)
            users[username] = user
        for slug, (name, roles) in DEMO_ROOMS.items():
            room, _ = Room.objects.get_or_create(
                slug=slug, defaults={"name": name, "created_by": users["alice"]}
            )
            for username, role in roles.items():
                # Only missing memberships: a role changed while trying the demo stays changed.
                Membership.objects.get_or_create(
                    room=room, user=users[username], defaults={"role": role}
                )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: users {', '.join(DEMO_USERS)}; rooms {', '.join(DEMO_ROOMS)}. "
                f"Created: {', '.join(created) or 'none'}. "
                f"Passwords reset: {', '.join(reset) or 'none'}."
            )
        )
        # Demo only (DEBUG is on, checked above): what a newcomer needs to log in.
        known = "" if created or reset else " (unless changed since: --reset-passwords sets it)"
        self.stdout.write(
            f"Log in as {', '.join(DEMO_USERS)} with password {password}{known}; "
            f"{', '.join(DEMO_STAFF)} may also use /admin/."
        )
