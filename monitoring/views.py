from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from monitoring.selectors import readiness


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    report = readiness()
    status = 200 if report["ready"] else 503
    if not request.user.is_authenticated:
        # Probes need the answer and what failed; process names (role@host:pid), errors and
        # free space tell a stranger how this house is run, so only signed-in users see them.
        report = {"ready": report["ready"], "not_ready": report["not_ready"]}
    return JsonResponse(report, status=status)
