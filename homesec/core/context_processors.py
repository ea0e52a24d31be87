from django.http import HttpRequest

from homesec.core.auth import user_role


def role(request: HttpRequest) -> dict[str, str | None]:
    return {"role": user_role(getattr(request, "user", None))}
