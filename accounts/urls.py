"""Session login for the browser pages: ``django.contrib.auth``'s views, minus password reset.

Password reset is not routed: this starter sends no email, and a reset form that mails nobody
(or mails through an unconfigured server) is an unthrottled oracle of which addresses have
accounts. An admin sets a forgotten password (``manage.py changepassword`` or the admin). To
offer self-service resets, configure ``EMAIL_*`` and route ``PasswordResetView`` behind a
per-address throttle (docs/security.md).
"""

from django.contrib.auth import views as auth_views
from django.urls import path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]
