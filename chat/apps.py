from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from realtime.runtime import Domain, install

        # signals: the live revocation of open sockets
        from . import revalidation, signals, streams  # noqa: F401

        # Looked up at each call, so a test can stand in for one of them.
        install(
            Domain(
                read_events=lambda *args: streams.read_events_from_database(*args),
                read_heads=lambda room_ids: streams.read_heads_from_database(room_ids),
                judge=lambda held: revalidation.verdicts(held),
            )
        )
