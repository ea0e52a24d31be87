from django.urls import path

from alerts import views

app_name = "alerts"
urlpatterns = [
    path("alerts/", views.alert_list, name="list"),
    path("alerts/handle", views.alert_handle, name="handle"),
    path("alerts/act/<str:token>", views.act, name="act"),
    path("cameras/<slug:camera_id>/snooze", views.snooze, name="snooze"),
    path("snapshots/<str:token>/", views.snapshot, name="snapshot"),
]
