"""Sign-in with a lock-out after repeated failures, and the admin's way in. (The overview at
"/" is cameras/views.py: overview.)"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from homesec.core.http import on_this_site
from homesec.core.net import client_ip
from homesec.core.selectors import login_locked_out
from homesec.core.services import login_failure_record, login_failures_clear


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The raw name: the lock-out cleans it exactly as the form will before signing in.
        username = request.POST.get("username", "")
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

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        login_failure_record(username=self.request.POST.get("username", ""), ip=client_ip(self.request))
        return super().form_invalid(form)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        login_failures_clear(username=form.get_user().get_username(), ip=client_ip(self.request))
        return super().form_valid(form)


_ADMIN_FORBIDDEN = """{% extends "base.html" %}
{% block title %}Not for this account · homesec{% endblock %}
{% block content %}
<section class="card narrow">
  <h1>The operator console is for admins</h1>
  <p>You are signed in as <strong>{{ user.get_username }}</strong>, which may read pages but not
  open the operator console. Ask an admin to make this account an admin, or sign out and sign in
  as one.</p>
  <p><a href="{% url 'home' %}">Back to the overview</a></p>
</section>
{% endblock %}"""


@require_GET
def admin_login(request: HttpRequest) -> HttpResponseBase:
    """The admin's own sign-in URL, where the admin sends everyone it does not let in.

    Everyone signs in on homesec's page (it has the lock-out). Signed-in staff go on to
    where they were headed; other users get a 403 page: sending them to a sign-in page
    again would loop, since they are signed in already."""
    target = request.GET.get(REDIRECT_FIELD_NAME, "")
    target = target if on_this_site(request, target) else reverse("admin:index")
    if not request.user.is_authenticated:
        return redirect_to_login(target)
    if request.user.is_active and request.user.is_staff:
        return HttpResponseRedirect(target)
    return TemplateResponse(request, engines["django"].from_string(_ADMIN_FORBIDDEN), status=403)
