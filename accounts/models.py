from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The project's user, in place from the first migration so it can grow without pain.

    https://docs.djangoproject.com/en/5.2/topics/auth/customizing/#using-a-custom-user-model-when-starting-a-project
    """


class EndedLogin(models.Model):
    """An API login (one token family: a refresh token, its rotations and every access token
    they minted, all carrying the same ``sid`` claim) that logged out.

    Blacklisting the refresh token stops new access tokens; this row stops the ones already out
    (REST requests, handshakes, in-band refreshes and open sockets, re-checked by
    ``accounts.revalidation``). A row is needed only while such an access token can still be
    valid, so it is kept until ``expires_at`` and pruned by the next logout.
    """

    sid = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    ended_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"login {self.sid} of user {self.user_id}, ended {self.ended_at:%Y-%m-%d %H:%M}"
