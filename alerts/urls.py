from django.urls import path

from alerts import views

app_name = "alerts"
urlpatterns = [path("snapshots/<str:token>/", views.snapshot, name="snapshot")]
