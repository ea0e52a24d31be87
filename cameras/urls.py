"""The household's pages of cameras (Django templates; writes are POSTs with CSRF). The
overview itself is "/" (homesec/urls.py names it "home")."""

from django.urls import URLPattern, path

from cameras import views

app_name = "cameras"
urlpatterns: list[URLPattern] = [
    path("overview/summary", views.overview_summary, name="summary"),
    path("overview/mode", views.mode_set, name="mode"),
    path("cameras/", views.camera_list, name="list"),
    path("cameras/add", views.camera_add, name="add"),
    path("cameras/<slug:camera_id>/", views.camera_detail, name="detail"),
    path("cameras/<slug:camera_id>/tile", views.tile, name="tile"),
    path("cameras/<slug:camera_id>/latest.jpg", views.latest_image, name="latest"),
    path("cameras/<slug:camera_id>/settings", views.camera_settings, name="settings"),
    path("cameras/<slug:camera_id>/ftp", views.camera_ftp_password, name="ftp"),
    path("cameras/<slug:camera_id>/zones", views.zone_save_view, name="zone_save"),
    path("cameras/<slug:camera_id>/zones/<int:zone_id>/delete", views.zone_delete_view, name="zone_delete"),
]
