from django.contrib import admin
from django.urls import include, path

from chat.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", include("config.api_urls")),
    path("metrics", metrics_view, name="metrics"),
    path("", include("chat.urls")),
]
