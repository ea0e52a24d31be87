"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homesec.settings")
django_asgi_app = get_asgi_application()

from homesec.core.backpressure import install as pace_response_bodies

pace_response_bodies()  # under daphne: a slow client must not make it buffer a whole clip

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from events.consumers import EventsConsumer
from homesec.core.ws_auth import websocket_auth
from monitoring.consumers import SystemConsumer

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_auth(
            URLRouter(
                [
                    path("ws/events", EventsConsumer.as_asgi()),
                    path("ws/system", SystemConsumer.as_asgi()),
                ]
            )
        ),
    }
)
