from homesec.core.auth import user_role


def role(request):
    return {"role": user_role(getattr(request, "user", None))}
