from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the deploy checks of the keys)

        from . import signals  # noqa: F401  (connects the session/password revocation hooks)
