from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from monitoring.selectors import breaker_list, queue_total, readiness, system_charts, system_health


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


@never_cache
@require_GET
def system(request: HttpRequest) -> HttpResponse:
    """The System page: read-only for everyone signed in (it writes nothing). It starts from
    what the live health push sends (system_health), which then keeps it current."""
    health = system_health()
    return render(
        request,
        "monitoring/system.html",
        {
            "nav": "system",
            "report": health,
            "disk": health["checks"]["disk"],
            "heartbeats": health["heartbeats"],
            "queues": health["queues"],
            "queue_total": queue_total(health["queues"]),
            "dead_letters": health["dead_letters"],
            "breakers": breaker_list(),
            "charts": system_charts(),
        },
    )


@never_cache
@require_GET
def system_charts_json(request: HttpRequest) -> JsonResponse:
    """The System page's chart data, refetched by the page every minute and on new events."""
    return JsonResponse(system_charts())
