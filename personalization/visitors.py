"""Which requests are a person viewing a page, and so count as view events."""

import re

from django.http import HttpRequest

# Tokens that crawlers, link previewers, monitors and HTTP libraries put in their User-Agent.
BOT_USER_AGENT = re.compile(
    r"bot|crawl|spider|slurp|preview|facebookexternalhit|embedly|monitor|uptime|pingdom|"
    r"curl|wget|httpie|python-requests|python-urllib|aiohttp|go-http-client|java/|okhttp|"
    r"scrapy|lighthouse|pagespeed",
    re.IGNORECASE,
)


def request_is_person_view(request: HttpRequest) -> bool:
    """A GET by something that is not a bot, and not a browser's speculative prefetch."""
    if request.method != "GET":
        return False
    if BOT_USER_AGENT.search(request.headers.get("User-Agent", "")):
        return False
    purpose = request.headers.get("Sec-Purpose", "") or request.headers.get("Purpose", "")
    return "prefetch" not in purpose.lower()
