"""Login/logout flash messages, and the ``credentials_revoked`` signal.

accounts knows nothing about sockets: it says which credentials of a user ended, and whoever holds
live connections (``chat.signals``) closes them.

- logout, or a session row deleted (``clearsessions``, the admin, expiry), ends that session
  (and drops it from the session cache, ``accounts.sessions``);
- a password change revokes the user's tokens and ends every session of the user;
- deactivation or deletion ends every credential of the user.
"""

from django.contrib import messages
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import Signal, receiver
from django.utils import timezone

from .credentials import AuthFailure, AuthMethod
from .sessions import forget_cached_session

User = get_user_model()

credentials_revoked = Signal()
"""Sent with ``user_id``, ``failure`` (AuthFailure), ``method`` (AuthMethod or None: every
method), ``session_keys`` (list or None: every session) and ``login_ids`` (list or None: every
API login, ``accounts.logins``)."""


def revoke_credentials(
    user_id: int,
    failure: AuthFailure,
    *,
    method: AuthMethod | None = None,
    session_keys: list[str] | None = None,
    login_ids: list[str] | None = None,
) -> None:
    credentials_revoked.send(
        sender=User,
        user_id=user_id,
        failure=failure,
        method=method,
        session_keys=session_keys,
        login_ids=login_ids,
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
def end_logged_out_session(sender, request, user, **kwargs) -> None:
    if user is None or request is None or not request.session.session_key:
        return
    if isinstance(request.session, DatabaseSessionStore):
        return  # the flush right after this deletes the row: end_deleted_session reports it
    revoke_credentials(
        user.pk,
        AuthFailure.SESSION_ENDED,
        method=AuthMethod.SESSION,
        session_keys=[request.session.session_key],
    )


@receiver(post_delete, sender=Session)
def end_deleted_session(sender, instance: Session, **kwargs) -> None:
    """Logout, ``clearsessions``, an admin deleting the row, or a key cycled away.

    The row leaves the session cache too, or a reconnect would still find the session there
    (the store's own delete does this; a queryset delete does not)."""
    forget_cached_session(instance.session_key)
    user_id = instance.get_decoded().get(SESSION_KEY)
    if user_id is None:
        return
    expired = instance.expire_date <= timezone.now()
    revoke_credentials(
        int(user_id),
        AuthFailure.SESSION_EXPIRED if expired else AuthFailure.SESSION_ENDED,
        method=AuthMethod.SESSION,
        session_keys=[instance.session_key],
    )


@receiver(pre_save, sender=User)
def remember_credential_changes(sender, instance, **kwargs) -> None:
    # set_password() leaves the new raw password in _password until save().
    instance._password_changed = instance.pk is not None and instance._password is not None


@receiver(post_save, sender=User)
def revoke_credentials_of_changed_user(sender, instance, created, **kwargs) -> None:
    if created:
        return
    if not instance.is_active:
        revoke_credentials(instance.pk, AuthFailure.USER_INACTIVE)
    elif getattr(instance, "_password_changed", False):
        revoke_credentials(instance.pk, AuthFailure.TOKEN_REVOKED, method=AuthMethod.JWT)
        revoke_credentials(instance.pk, AuthFailure.PASSWORD_CHANGED, method=AuthMethod.SESSION)


@receiver(post_delete, sender=User)
def revoke_credentials_of_deleted_user(sender, instance, **kwargs) -> None:
    revoke_credentials(instance.pk, AuthFailure.USER_INACTIVE)
