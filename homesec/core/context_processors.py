from collections.abc import Callable

from django.http import HttpRequest

from homesec.core.auth import user_role
from homesec.core.selectors import live_message_last_id


def role(request: HttpRequest) -> dict[str, str | None | Callable[[], int]]:
    # The last live message's id is read only by pages that render it (the template calls
    # it): a page then asks the live streams for everything after what it was rendered from.
    return {"role": user_role(getattr(request, "user", None)), "live_last_id": live_message_last_id}
