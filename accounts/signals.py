"""Login/logout flash messages, and credential revocation reaching open sockets in every server
process through the channel layer.

- logout closes the sockets opened with that browser session;
- a password change closes the user's token sockets (their tokens are revoked too);
- deactivation or deletion closes every socket of the user.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from chat.realtime import group_send_after_commit, user_group_name

from .middleware import AuthMethod
from .tokens import AuthFailure

User = get_user_model()


def revoke_user_sockets(
    user_id: int,
    failure: AuthFailure,
    *,
    method: AuthMethod | None = None,
    session_key: str | None = None,
) -> None:
    """Ask every socket of the user (optionally only one credential kind) to close with 4001."""
    group_send_after_commit(
        user_group_name(user_id),
        {
            "type": "auth.revoked",
            "failure": failure.value,
            "method": method.value if method else None,
            "session_key": session_key,
        },
    )


@receiver(user_logged_in)
def flash_logged_in(sender, request, user, **kwargs) -> None:
    # fail_silently: a login without a browser request (test client, shell) has no storage.
    if request is not None:
        messages.success(request, f"Welcome, {user.get_username()}.", fail_silently=True)


@receiver(user_logged_out)
def flash_logged_out(sender, request, user, **kwargs) -> None:
    # The session is flushed right after this signal; the default FallbackStorage keeps the
    # message in a cookie first, so it survives into the login page.
    if request is not None:
        messages.info(request, "You have been logged out.", fail_silently=True)


@receiver(user_logged_out)
def close_sockets_of_ended_session(sender, request, user, **kwargs) -> None:
    if user is not None and request is not None and request.session.session_key:
        revoke_user_sockets(
            user.pk,
            AuthFailure.SESSION_ENDED,
            method=AuthMethod.SESSION,
            session_key=request.session.session_key,
        )


@receiver(pre_save, sender=User)
def remember_credential_changes(sender, instance, **kwargs) -> None:
    # set_password() leaves the new raw password in _password until save().
    instance._password_changed = instance.pk is not None and instance._password is not None


@receiver(post_save, sender=User)
def close_sockets_of_changed_user(sender, instance, created, **kwargs) -> None:
    if created:
        return
    if not instance.is_active:
        revoke_user_sockets(instance.pk, AuthFailure.USER_INACTIVE)
    elif getattr(instance, "_password_changed", False):
        revoke_user_sockets(instance.pk, AuthFailure.TOKEN_REVOKED, method=AuthMethod.JWT)


@receiver(post_delete, sender=User)
def close_sockets_of_deleted_user(sender, instance, **kwargs) -> None:
    revoke_user_sockets(instance.pk, AuthFailure.USER_INACTIVE)
