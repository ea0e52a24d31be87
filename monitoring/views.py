from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from monitoring.collectors import metrics_exposition
from monitoring.metrics import stage_latency_percentiles
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
    latency = stage_latency_percentiles()
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
            "latency": latency,
            "latency_measured": any(row["count"] for row in latency),
        },
    )


@never_cache
@require_GET
def system_charts_json(request: HttpRequest) -> JsonResponse:
    """The System page's chart data, refetched by the page every minute and on new events."""
    return JsonResponse(system_charts())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape (text format 0.0.4), with its own token and no session: a
    signed-in user without the token is refused too. The token is never logged or echoed."""
    if not settings.METRICS_TOKEN:
        return HttpResponse(
            "Metrics are off: set HOMESEC_METRICS_TOKEN and scrape with Authorization: Bearer <token>.\n",
            status=404,
            content_type="text/plain; charset=utf-8",
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not constant_time_compare(given.strip(), settings.METRICS_TOKEN):
        refused = HttpResponse(
            "The metrics need the scrape token: Authorization: Bearer <HOMESEC_METRICS_TOKEN>.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        refused["WWW-Authenticate"] = 'Bearer realm="homesec metrics"'
        return refused
    return HttpResponse(metrics_exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")
