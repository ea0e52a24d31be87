from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from homesec.core.auth import user_role


@extend_schema(responses=inline_serializer("ApiRoot", {"me": serializers.URLField(), "schema": serializers.URLField()}))
@api_view(["GET"])
def api_root(request: Request) -> Response:
    return Response({"me": reverse("api-me", request=request), "schema": reverse("api-schema", request=request)})


@extend_schema(
    responses=inline_serializer("Me", {"username": serializers.CharField(), "role": serializers.CharField()})
)
@api_view(["GET"])
def api_me(request: Request) -> Response:
    user = request.user
    return Response({"username": user.get_username(), "role": user_role(user)})
