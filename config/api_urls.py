from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("auth/", include("accounts.api_urls")),
    path("", include("chat.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]
