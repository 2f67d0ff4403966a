from django.urls import path

from .api import TokenLogoutView, TokenObtainView, TokenRefreshThrottledView, WebSocketTicketView

urlpatterns = [
    path("token/", TokenObtainView.as_view(), name="token-obtain"),
    path("token/refresh/", TokenRefreshThrottledView.as_view(), name="token-refresh"),
    path("token/blacklist/", TokenLogoutView.as_view(), name="token-blacklist"),
    path("ws-ticket/", WebSocketTicketView.as_view(), name="ws-ticket"),
]
