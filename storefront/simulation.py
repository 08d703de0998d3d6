"""Simulated shoppers: clients of the shop's HTTP interface, each with an intent, who view a
few products of it, search with a shopper's words and click by a position-biased click model,
so that the shop's experiments (interleaving, A/B) get traffic whose truth is known.

Only HTTP: the simulator learns the catalog from the shop (`GET /api/space/`: each product's
target, category and activity) and never asks the shop's code what is relevant. It drives the
HTML pages by default (the result links record the click and the view) or, with
`interface="api"`, the JSON API (`POST /api/clicks/` and `/api/events/`, with the CSRF token).

The click model. A shopper's intent is an activity and an audience (a target) of the catalog;
a result's relevance to it is a grade: 2 when both its activity and its target match, 1 when
one does, 0 when neither. On a page of results the shopper reads down the list: the result at
rank r (from 1) is examined with probability 1 / r ** ETA (ETA = 1: position-based
examination, as in Joachims et al. 2005 and Craswell et al. 2008), and an examined result is
clicked with probability ATTRACTION[grade] = (0.02, 0.12, 0.6). After a click the shopper reads
on with probability CONTINUE_AFTER_CLICK = 0.4 and otherwise leaves the page (the dependent
click model, Guo et al. 2009), so most pages get one click or none.
"""

from __future__ import annotations

import json
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Protocol

ETA = 1.0
ATTRACTION = (0.02, 0.12, 0.6)  # click probability of an examined result, by grade 0, 1, 2
CONTINUE_AFTER_CLICK = 0.4
TYPO_RATE = 0.15  # share of broad searches typed with one slip of the fingers
MIN_INTENT_PRODUCTS = 5
# Real browsers' User-Agents: the shop records views and impressions from browsers, not bots.
BROWSERS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
)
WORD = re.compile(r"[a-z]+")


class RequestFailed(Exception):
    """A request that got no answer (refused, reset, timed out) or an answer it cannot use."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise RequestFailed(f"not JSON ({self.status}): {self.body[:120]!r}") from exc


class Transport(Protocol):
    """One shopper's browser: sends requests to the shop with its own cookies."""

    def request(
        self, method: str, path: str, *, body: dict | None = None, headers: dict | None = None
    ) -> Response: ...

    def cookie(self, name: str) -> str | None: ...


class _BrowserCookies(DefaultCookiePolicy):
    """Browsers send Secure cookies to a loopback address over plain http (a secure context),
    as a shop served with production settings on this machine (`make serve`) expects."""

    def return_ok_secure(self, cookie, request) -> bool:
        host = urllib.parse.urlsplit(request.get_full_url()).hostname
        return host in LOOPBACK or super().return_ok_secure(cookie, request)


LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class HttpTransport:
    """A browser over HTTP (urllib): its own cookie jar, a User-Agent, a timeout per request."""

    def __init__(self, base_url: str, *, user_agent: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        self.timeout = timeout
        self.jar = CookieJar(_BrowserCookies())
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(
        self, method: str, path: str, *, body: dict | None = None, headers: dict | None = None
    ) -> Response:
        data = json.dumps(body).encode() if body is not None else None
        sent = {"User-Agent": self.user_agent, "Accept": "text/html,application/json"}
        if data is not None:
            sent["Content-Type"] = "application/json"
            sent["Referer"] = self.base_url + "/"  # Django's CSRF check wants one over https
        sent.update(headers or {})
        request = urllib.request.Request(self.base_url + path, data, sent, method=method)
        try:
            with self.opener.open(request, timeout=self.timeout) as answer:
                return Response(answer.status, answer.read())
        except urllib.error.HTTPError as answer:
            with answer:
                return Response(answer.code, answer.read())
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets; a malformed URL
            raise RequestFailed(f"{method} {urllib.parse.urlsplit(path).path}: {exc}") from exc

    def cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.jar if cookie.name == name), None)


@dataclass(frozen=True)
class Intent:
    activity: str
    audience: str
    words: tuple[str, ...]  # the broad words such a shopper searches with ("shoes", "jacket")
    specific: tuple[str, ...]  # what they search to find products of it ("running shoes")


@dataclass(frozen=True)
class Catalog:
    """What the simulator knows of the shop's products: (activity, target) by SKU."""

    products: dict[str, tuple[str, str]]
    intents: tuple[Intent, ...]
    weights: tuple[int, ...]  # products of each intent: how often a shopper has it

    def grade(self, sku: str, intent: Intent) -> int:
        activity, target = self.products.get(sku, ("", ""))
        return (activity == intent.activity) + (target == intent.audience)


def catalog_discover(transport: Transport, *, min_products: int = MIN_INTENT_PRODUCTS) -> Catalog:
    """The shop's products and the intents a shopper may have, from `GET /api/space/` (every
    product the active model maps, with its target, category and activity; the category
    stands for the activity in a catalog without one).

    An intent is an activity and a target with at least `min_products` products (and at least
    two categories where some activity has two): a shopper for it views its products. Its
    broad words are the last words of its categories that other activities' categories end
    with too ("shoes" of "running shoes" and "hiking shoes"), and their singular where the
    product names use it: the words of a search that personalization can make better."""
    answer = transport.request("GET", "/api/space/")
    if answer.status != 200:
        raise RequestFailed(
            f"GET /api/space/ answered {answer.status}: the shop maps no products (it needs an "
            "active product model), so the simulator cannot learn the catalog"
        )
    points = answer.json()["points"]
    products: dict[str, tuple[str, str]] = {}
    categories: dict[tuple[str, str], set[str]] = {}  # intent -> its categories
    names: dict[str, set[str]] = {}  # category -> the words of its products' names
    for point in points:
        category = point.get("category") or ""
        activity = point.get("activity") or category
        if not activity or not point.get("target"):
            continue
        products[point["sku"]] = (activity, point["target"])
        categories.setdefault((activity, point["target"]), set()).add(category)
        names.setdefault(category, set()).update(WORD.findall(point["name"].lower()))
    counts = Counter(products.values())
    per_activity: dict[str, set[str]] = {}
    for (activity, _), labels in categories.items():
        per_activity.setdefault(activity, set()).update(labels)
    least_categories = 2 if any(len(c) > 1 for c in per_activity.values()) else 1
    heads: dict[str, set[str]] = {}  # a category's last word -> the activities using it
    for activity, labels in per_activity.items():
        for label in labels:
            if label:
                heads.setdefault(label.split()[-1].lower(), set()).add(activity)
    intents, weights = [], []
    for key in sorted(categories):
        activity, audience = key
        labels = sorted(label for label in categories[key] if label)
        if counts[key] < min_products or len(categories[key]) < least_categories:
            continue
        words = []
        for label in labels:
            head = label.split()[-1].lower()
            if len(heads.get(head, ())) < 2:
                continue  # a word only this activity uses: no ambiguity for a ranker to settle
            words.append(head)
            singular = head[:-1] if head.endswith("s") and not head.endswith("ss") else ""
            if singular and singular in names[label]:
                words.append(singular)
        if not words:  # nothing shared: its own category words, still broader than a name
            words = [label.split()[-1].lower() for label in labels] or [activity.lower()]
        intents.append(Intent(activity, audience, tuple(dict.fromkeys(words)), tuple(labels)))
        weights.append(counts[key])
    if not intents:
        raise RequestFailed(
            f"no activity and target of the shop's {len(products)} mapped products has "
            f"{min_products} products or more: no intent to simulate"
        )
    return Catalog(products, tuple(intents), tuple(weights))


def typo(word: str, rng: random.Random) -> str:
    """`word` with one slip: two letters swapped, one dropped or one doubled."""
    if len(word) < 4:
        return word
    at = rng.randrange(1, len(word) - 1)
    slip = rng.choice(("swap", "drop", "double"))
    if slip == "swap":
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if slip == "drop":
        return word[:at] + word[at + 1 :]
    return word[:at] + word[at] + word[at:]


def clicks_draw(
    grades: Sequence[int],
    rng: random.Random,
    *,
    eta: float = ETA,
    attraction: Sequence[float] = ATTRACTION,
    go_on: float = CONTINUE_AFTER_CLICK,
) -> list[int]:
    """The 0-based positions a shopper clicks on a page whose results have these relevance
    grades (see the module's click model)."""
    clicked = []
    for position, grade in enumerate(grades):
        if rng.random() >= 1.0 / (position + 1) ** eta:
            continue  # not examined
        if rng.random() < attraction[grade]:
            clicked.append(position)
            if rng.random() >= go_on:
                break
    return clicked


@dataclass(frozen=True)
class Result:
    sku: str
    position: int
    link: str  # the HTML page's link (records the click); "" from the API


@dataclass(frozen=True)
class Page:
    impression: str | None
    results: list[Result]


class _ResultLinks(HTMLParser):
    """The result links of a search page: `a.product-card__link` in page order."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and "product-card__link" in (attributes.get("class") or "").split():
            self.links.append(attributes.get("href") or "")


def _html_page(transport: Transport, query: str) -> Page:
    answer = transport.request("GET", "/search/?" + urllib.parse.urlencode({"q": query}))
    if answer.status != 200:
        raise RequestFailed(f"GET /search/ answered {answer.status}")
    parser = _ResultLinks()
    parser.feed(answer.body.decode("utf-8", "replace"))
    results, impression = [], None
    for order, link in enumerate(parser.links):
        parsed = urllib.parse.urlsplit(link)
        sku = urllib.parse.unquote(parsed.path.rstrip("/").rsplit("/", 1)[-1])
        fields = urllib.parse.parse_qs(parsed.query)
        impression = impression or fields.get("impression", [None])[0]
        position = int(fields.get("position", [order])[0])
        results.append(Result(sku, position, link))
    return Page(impression, results)


def _api_page(transport: Transport, query: str) -> Page:
    answer = transport.request("GET", "/api/search/?" + urllib.parse.urlencode({"q": query}))
    if answer.status != 200:
        raise RequestFailed(f"GET /api/search/ answered {answer.status}")
    found = answer.json()
    results = [Result(item["sku"], n, "") for n, item in enumerate(found["results"])]
    return Page(found.get("impression"), results)


@dataclass
class Run:
    """What the simulator did and saw: the shop's own count is server-side."""

    shoppers: int = 0
    searches: int = 0
    impressions: set[str] = field(default_factory=set)  # ids of the pages shown
    clicks: int = 0
    views: int = 0
    failures: Counter = field(default_factory=Counter)  # what failed -> how often
    seconds: float = 0.0
    out_of_time: bool = False

    def summary(self) -> str:
        failed = sum(self.failures.values())
        lines = [
            f"{self.shoppers} shoppers in {self.seconds:.0f} s"
            + (" (stopped by --max-seconds)" if self.out_of_time else "")
            + f": {self.searches} searches, {len(self.impressions)} impressions, "
            f"{self.clicks} clicks, {self.views} product views; {failed} failed requests",
        ]
        lines += [f"  {count} x {what}" for what, count in self.failures.most_common(5)]
        return "\n".join(lines)


class Shopper:
    """One simulated shopper with an intent, behind one transport (their browser)."""

    def __init__(
        self,
        transport: Transport,
        catalog: Catalog,
        rng: random.Random,
        *,
        interface: str,
        run: Run,
    ):
        self.transport, self.catalog, self.rng, self.run = transport, catalog, rng, run
        self.interface = interface
        self.intent = rng.choices(catalog.intents, catalog.weights)[0]

    def shop(self, *, views: int, searches: int, deadline: float) -> None:
        """Find and view `views` products of the intent (searching what it is: "running
        shoes"), then run `searches` broad searches, clicking by the click model."""
        viewed = 0
        for _ in range(views * 3):
            if viewed >= views or time.monotonic() > deadline:
                break
            query = self.rng.choice(self.intent.specific)
            if self.rng.random() < 0.5:
                query = f"{self.intent.audience} {query}"
            viewed += self.search(query)
        for _ in range(searches):
            if time.monotonic() > deadline:
                break
            word = self.rng.choice(self.intent.words)
            self.search(typo(word, self.rng) if self.rng.random() < TYPO_RATE else word)

    def search(self, query: str) -> int:
        """One search and its clicks (each one a view of the product); the clicks' count."""
        page = (_api_page if self.interface == "api" else _html_page)(self.transport, query)
        self.run.searches += 1
        if page.impression:
            self.run.impressions.add(page.impression)
        grades = [self.catalog.grade(result.sku, self.intent) for result in page.results]
        clicked = clicks_draw(grades, self.rng)
        for position in clicked:
            self.click(page, page.results[position])
        return len(clicked)

    def click(self, page: Page, result: Result) -> None:
        if self.interface == "api":
            if page.impression:
                answer = self.transport.request(
                    "POST",
                    "/api/clicks/",
                    body={"impression": page.impression, "position": result.position,
                          "sku": result.sku},
                    headers={"X-CSRFToken": self.transport.cookie("csrftoken") or ""},
                )  # fmt: skip
                self._count(answer, "POST /api/clicks/")
            answer = self.transport.request(
                "POST",
                "/api/events/",
                body={"sku": result.sku},
                headers={"X-CSRFToken": self.transport.cookie("csrftoken") or ""},
            )
            self._count(answer, "POST /api/events/")
        else:
            answer = self.transport.request("GET", result.link)
            self._count(answer, "GET /products/<sku>/")
        self.run.clicks += 1
        self.run.views += 1

    def _count(self, answer: Response, what: str) -> None:
        if answer.status >= 400:
            self.run.failures[f"{what} answered {answer.status}"] += 1


def shoppers_simulate(
    transport_for: Callable[[str], Transport],
    *,
    shoppers: int,
    seed: int,
    max_seconds: float = 600.0,
    interface: str = "html",
    min_products: int = MIN_INTENT_PRODUCTS,
    views: tuple[int, int] = (2, 4),
    searches: tuple[int, int] = (2, 5),
    progress: Callable[[int], None] = lambda done: None,
) -> Run:
    """Run `shoppers` shoppers one after another, each through `transport_for(user_agent)` (a
    new browser: its own cookies), with randomness drawn from `seed` (same seed, same shoppers
    and clicks against the same shop). Stops after `max_seconds`. A request that fails is
    counted in the run's failures and ends that shopper, never the run; learning the catalog
    failing raises RequestFailed. Intents need `min_products` products (see catalog_discover);
    each shopper views `views` products (a range) and runs `searches` broad searches. Calls
    `progress(1)` after each shopper."""
    if interface not in ("html", "api"):
        raise ValueError(f"interface is html or api, not {interface!r}")
    started = time.monotonic()
    deadline = started + max_seconds
    rng = random.Random(f"shoppers:{seed}")
    catalog = catalog_discover(transport_for(rng.choice(BROWSERS)), min_products=min_products)
    run = Run()
    for number in range(shoppers):
        if time.monotonic() > deadline:
            run.out_of_time = True
            break
        own = random.Random(f"shopper:{seed}:{number}")
        shopper = Shopper(
            transport_for(own.choice(BROWSERS)), catalog, own, interface=interface, run=run
        )
        try:
            shopper.shop(
                views=own.randint(*views), searches=own.randint(*searches), deadline=deadline
            )
        except RequestFailed as failed:
            run.failures[str(failed)[:160]] += 1
        run.shoppers += 1
        progress(1)
    run.out_of_time = run.out_of_time or time.monotonic() > deadline
    run.seconds = time.monotonic() - started
    return run
