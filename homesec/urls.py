from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from cameras import views as camera_views
from homesec.core import api_views, views
from monitoring import views as monitoring_views

admin.site.site_header = "homesec operator console"
admin.site.site_title = "homesec"
admin.site.index_title = "Operations"

urlpatterns = [
    path("", camera_views.overview, name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The admin's own sign-in form would sign in around the lock-out: its URL (where the
    # admin sends whoever it does not let in) sends people to homesec's login page instead,
    # and signed-in users who are not staff to a 403 page.
    path("admin/login/", views.admin_login),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name no icon (the console's).
    path("favicon.ico", RedirectView.as_view(url=static("homesec/favicon.svg"))),
    path("health", monitoring_views.health, name="health"),
    path("ready", monitoring_views.ready, name="ready"),
    path("metrics", monitoring_views.metrics, name="metrics"),
    path("api/", api_views.api_root, name="api-root"),
    path("api/me/", api_views.api_me, name="api-me"),
    path("api/tokens/", api_views.TokenCreateView.as_view(), name="api-tokens"),
    path("api/tokens/current/", api_views.TokenCurrentView.as_view(), name="api-tokens-current"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("homesec.api_urls")),
    path("", include("alerts.urls")),
    path("", include("cameras.urls")),
    path("", include("events.urls")),
    path("", include("detections.urls")),
    path("", include("monitoring.urls")),
    # Last: an /api/ URL no view above answers is a 404 problem (signed in first), not
    # Django's HTML page.
    re_path(r"^api/", api_views.ApiNotFoundView.as_view()),
]

# Errors outside DRF's views: problems under /api/, Django's pages elsewhere.
handler404 = api_views.handler404
handler500 = api_views.handler500
