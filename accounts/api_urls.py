from django.urls import path

from .api import TokenLogoutView, TokenObtainView, TokenRefreshThrottledView

urlpatterns = [
    path("token/", TokenObtainView.as_view(), name="token-obtain"),
    path("token/refresh/", TokenRefreshThrottledView.as_view(), name="token-refresh"),
    path("token/blacklist/", TokenLogoutView.as_view(), name="token-blacklist"),
]
