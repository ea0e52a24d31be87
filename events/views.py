"""The timeline (the household's review page) and an event's page. Reads go through
events/selectors.py (and alerts/selectors.py for the rule checks: the pages sit above every
stage), writes through events/services.py and events/assessment.py."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from alerts.selectors import alert_checks_for_event
from cameras.selectors import camera_names
from events.forms import BulkReviewForm, ReviewForm, TimelineFilterForm
from events.models import Event
from events.selectors import (
    Cursor,
    EventPage,
    event_get,
    event_page,
    level_names,
    timeline_choices,
    timeline_page,
    timeline_row,
)
from events.services import event_reassess, event_review, events_mark_reviewed
from homesec.core.auth import admin_required
from homesec.core.http import back_url

PAGE_SIZE = 50


def _filters(request: HttpRequest) -> TimelineFilterForm:
    return TimelineFilterForm(request.GET, cameras=camera_names(), choices=timeline_choices())


@require_GET
def timeline(request: HttpRequest) -> HttpResponse:
    form = _filters(request)
    before = form.jump() or Cursor.parse(request.GET.get("before", ""))
    after = None if before else Cursor.parse(request.GET.get("after", ""))
    query = form.query()
    page = timeline_page(query=query, before=before, after=after, limit=PAGE_SIZE)
    context = {
        "nav": "timeline",
        "form": form,
        "query": query,
        "page": page,
        "filters": form.querystring(),
        "rendered": ",".join(str(pk) for pk in page.ids),
        "household_zone": settings.TIME_ZONE,
    }
    return render(request, "events/timeline.html", context)


@require_GET
def row(request: HttpRequest, pk: int) -> HttpResponse:
    """One timeline row, for the live page: `X-Timeline-Match` says whether the page's
    filters (its query string) let the event through."""
    shown, matches = timeline_row(event_id=pk, query=_filters(request).query())
    if shown is None:
        raise Http404("no such event")
    response = render(request, "events/_row.html", {"row": shown, "live": True})
    response["X-Timeline-Match"] = "1" if matches else "0"
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def review_bulk(request: HttpRequest) -> HttpResponseRedirect:
    form = BulkReviewForm(request.POST)
    back = back_url(request, reverse("events:timeline"))
    if not form.is_valid():
        for error in form.non_field_errors():
            messages.error(request, str(error))
        return HttpResponseRedirect(back)
    changed = events_mark_reviewed(event_ids=form.cleaned_data["event_ids"], user=request.user)
    named = len(form.cleaned_data["event_ids"])
    messages.success(request, f"Marked {changed} of {named} event{'s' if named != 1 else ''} reviewed.")
    return HttpResponseRedirect(back)


@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    shown = event_page(event_id=pk)
    if shown is None:
        raise Http404("no such event")
    form = ReviewForm(initial=_review_initial(shown.event), levels=level_names())
    return _detail(request, shown, form)


def _review_initial(event: Event) -> dict[str, object]:
    return {
        "reviewed": event.reviewed,
        "review_notes": event.review_notes,
        "feedback": event.feedback,
        "expected_level": event.expected_level,
    }


def _detail(request: HttpRequest, shown: EventPage, form: ReviewForm, status: int = 200) -> HttpResponse:
    context = {
        "nav": "timeline",
        "page": shown,
        "event": shown.event,
        "form": form,
        "checks": alert_checks_for_event(event_id=shown.event.pk),
    }
    return render(request, "events/event.html", context, status=status)


@require_POST
def review(request: HttpRequest, pk: int) -> HttpResponse:
    """The household's review: viewers may review, note and give feedback. The whole page
    is read only to show the form again with its errors: a saved review redirects."""
    event = event_get(event_id=pk)
    if event is None:
        raise Http404("no such event")
    form = ReviewForm(request.POST, levels=level_names())
    if not form.is_valid():
        shown = event_page(event_id=pk)
        if shown is None:  # deleted meanwhile
            raise Http404("no such event")
        return _detail(request, shown, form, status=400)
    event_review(event=event, by=request.user, **form.cleaned_data)
    messages.success(request, "Review saved.")
    return HttpResponseRedirect(reverse("events:detail", args=[pk]) + "#review")


@require_POST
@admin_required
def reassess(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    """Ask for the event to be assessed again (it updates live when the answer is stored)."""
    if event_get(event_id=pk) is None:
        raise Http404("no such event")
    event_reassess(event_id=pk)
    messages.success(request, "Re-assessment asked for: the page updates when it is done.")
    return HttpResponseRedirect(reverse("events:detail", args=[pk]))
