from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from chat.models import Membership, Role, Room

DEMO_USERS = ["alice", "bob", "carol", "dave"]
DEMO_ROOMS = {
    "lobby": ("Lobby", {"alice": Role.OWNER, "bob": Role.MEMBER, "dave": Role.READER}),
    "staff": ("Staff", {"alice": Role.OWNER}),
}


class Command(BaseCommand):
    help = "Create the demo users and rooms (idempotent). Refuses to run with DEBUG off."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--password",
            default=None,
            help="Password for every demo user (default: settings.DEMO_PASSWORD).",
        )

    @transaction.atomic
    def handle(self, *args, password: str | None, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates users with a known password; DEBUG is off.")
        password = password or settings.DEMO_PASSWORD
        user_model = get_user_model()
        users = {}
        for username in DEMO_USERS:
            user, _ = user_model.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_active = True
            user.save()
            users[username] = user
        users["alice"].is_staff = users["alice"].is_superuser = True
        users["alice"].save()
        for slug, (name, roles) in DEMO_ROOMS.items():
            room, _ = Room.objects.get_or_create(
                slug=slug, defaults={"name": name, "created_by": users["alice"]}
            )
            for username, role in roles.items():
                Membership.objects.update_or_create(
                    room=room, user=users[username], defaults={"role": role}
                )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: users {', '.join(DEMO_USERS)}; rooms {', '.join(DEMO_ROOMS)}."
            )
        )
