from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path

from chat.ops import metrics_view

# The admin speaks in the project's name, not "Django administration".
admin.site.site_header = "Secure chat administration"
admin.site.site_title = "Secure chat admin"
admin.site.index_title = "Rooms, members and accounts"


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """``/favicon.ico``, which browsers ask for on pages that name no icon (the admin's): the
    site's static SVG icon (hashed name in production), so no page logs a 404 for it."""
    return HttpResponsePermanentRedirect(static("chat/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", include("config.api_urls")),
    path("metrics", metrics_view, name="metrics"),
    path("", include("chat.urls")),
]
