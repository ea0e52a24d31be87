"""Sign-in with a lock-out after repeated failures, and the signed-in home page."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import render
from django.views.decorators.http import require_GET

from homesec.core.selectors import login_locked_out
from homesec.core.services import login_failure_record, login_failures_clear


def client_ip(request) -> str | None:
    # Only the socket peer: X-Forwarded-For is trivially forged unless a proxy we trust sets it.
    return request.META.get("REMOTE_ADDR") or None


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[:150]
        ip = client_ip(request)
        if login_locked_out(username=username, ip=ip):
            minutes = max(1, settings.LOGIN_LOCKOUT_S // 60)
            return render(
                request,
                self.template_name,
                {"form": self.get_form(), "locked_out": True, "lockout_minutes": minutes},
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        login_failure_record(username=self.request.POST.get("username", ""), ip=client_ip(self.request))
        return super().form_invalid(form)

    def form_valid(self, form):
        login_failures_clear(username=form.get_user().get_username(), ip=client_ip(self.request))
        return super().form_valid(form)


@require_GET
def home(request):
    return render(request, "homesec/home.html")
