"""Visitors as the shop knows them: what they viewed, what it thinks they like, the views they
record, and the personas a visitor can browse as."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.signing import BadSignature, Signer

from catalog.search import catalog_searcher
from catalog.selectors import product_exists
from common.kept_cache import cache_get_or_set_kept
from personalization.affinity import Liking, visitor_affinity
from personalization.events import product_view_track
from personalization.experiments import ClickRefused, click_record
from personalization.serving import model_active
from personalization.state import Visitor, VisitorState, VisitorStateUnavailable
from personalization.view_limits import ViewsLimited, user_agent_is_bot

PERSONAS_CACHE_SECONDS = 60
PERSONA_COOKIE = "cis_persona"  # who the visitor browses as, and their own token
BOT_NOT_RECORDED = "Not recorded: the User-Agent is a bot's or an HTTP library's."


@dataclass(frozen=True)
class Profile:
    """What the shop knows of a visitor, as the "What we think you like" panel shows it."""

    viewed: list[str]  # most recent first, each once
    affinity: dict[str, list[Liking]]  # facet -> the values liked most, with shares
    notices: list[str]

    @property
    def personalized(self) -> bool:
        return bool(self.affinity)


def visitor_profile(state: VisitorState) -> Profile:
    """The visitor's recent views and their affinity to categories and audiences."""
    return Profile(
        state.viewed_recently, visitor_affinity(state, model_active()), list(state.notices)
    )


def product_view_record(visitor: Visitor, sku: str, *, by_bot: bool = False) -> list[str] | None:
    """Record that `visitor` viewed product `sku` (their state and the event log); the notices
    for them (Redis away), or None when the catalog has no product `sku`. A bot's view is
    not recorded (the notice says so). Raises ViewsLimited, nothing recorded, when the visitor
    or their address is over its flood limit."""
    if not product_exists(sku):
        return None
    if by_bot:
        return [BOT_NOT_RECORDED]
    return product_view_track(visitor, sku, answer=False).notices


def request_from_person(method: str, headers, *, page: bool = True) -> bool:
    """A GET by something that is not a bot (for a `page`, not a script either: an API's
    clients are), and not a browser's speculative prefetch: what the shop records."""
    if method != "GET":
        return False
    if user_agent_is_bot(headers.get("User-Agent", ""), page=page):
        return False
    purpose = headers.get("Sec-Purpose", "") or headers.get("Purpose", "")
    return "prefetch" not in purpose.lower()


IMPRESSION_ID = re.compile(r"[0-9a-f]{32}")
POSITION_MAX = 10_000


def result_click_record(visitor: Visitor, *, impression: str, position: int, sku: str) -> bool:
    """Count a click on the search result at `position` (from 0) of the impression shown to
    `visitor`: True when counted, False when it was counted already. Raises ClickRefused."""
    if not IMPRESSION_ID.fullmatch(impression):
        raise ClickRefused("no impression with this id was shown to you", field="impression")
    return click_record(visitor, impression_id=impression, position=position, sku=sku)


def result_link_click(visitor: Visitor, sku: str, *, impression: str, position: str) -> None:
    """A product page reached by a search result's link (`?impression=ID&position=N`): its
    click counted; a link that is not this visitor's (shared, forged, too old) counts nothing."""
    if not position.isdigit() or int(position) > POSITION_MAX:
        return
    try:
        result_click_record(visitor, impression=impression, position=int(position), sku=sku)
    except (ClickRefused, VisitorStateUnavailable):
        pass


@dataclass(frozen=True)
class Persona:
    slug: str
    name: str  # "Sam"
    who: str  # "a men's trail runner"
    line: str  # what they browse, in a line
    query: str  # the search that shows their taste
    skus: list[str]  # what browsing as them views, in order


@dataclass(frozen=True)
class PersonaVisit:
    """A visitor browsing as a persona: who, and the token of the visitor's own views, set
    aside until they go back to them (None: they had none)."""

    slug: str
    name: str
    who: str
    own_token: str | None


def personas_available() -> list[Persona]:
    """The personas of CIS_PERSONAS that this catalog can play: each views the first result
    of each of its searches (at least two found, or the persona is left out). Worked out at
    most once a minute, and kept as long by each process (the search and home pages asked the
    cache at every request)."""
    return cache_get_or_set_kept("shop:personas", _personas_found, timeout=PERSONAS_CACHE_SECONDS)


def _personas_found() -> list[Persona]:
    searcher = catalog_searcher()
    personas = []
    for described in settings.CIS_PERSONAS:
        found = [searcher.search(query, limit=1).hits for query in described["searches"]]
        skus = list(dict.fromkeys(hits[0].sku for hits in found if hits))
        if len(skus) >= 2:
            fields = {field: described[field] for field in ("slug", "name", "who", "line")}
            personas.append(Persona(**fields, query=described.get("query", ""), skus=skus))
    return personas


def persona_browse(
    visitor: Visitor, slug: str, *, visit: PersonaVisit | None = None
) -> PersonaVisit | None:
    """Browse as the persona `slug`: the visitor's own views set aside (their state stays as it
    is, under their own token; a new token holds the persona's), then the persona's products
    viewed one after the other, as real views (the state and the event log). Already browsing
    as one (`visit`), that persona's views are dropped and the own ones stay aside. None for a
    persona this shop does not have."""
    persona = next((p for p in personas_available() if p.slug == slug), None)
    if persona is None:
        return None
    if visit is None:
        own_token = visitor.token
        visitor.token_swap(None)
    else:
        own_token = visit.own_token
        visitor.forget()
    for sku in persona.skus:
        try:
            product_view_track(visitor, sku)
        except ViewsLimited:
            break  # the flood limits hold for personas too: the state has the views before
    return PersonaVisit(persona.slug, persona.name, persona.who, own_token)


def persona_leave(visitor: Visitor, visit: PersonaVisit) -> None:
    """Back to the visitor's own views, exactly as they were set aside: the persona's state is
    dropped (its views stay in the anonymous log) and the own token is the visitor's again."""
    visitor.forget()
    visitor.token_swap(visit.own_token)


def visitor_forget(visitor: Visitor, visit: PersonaVisit | None) -> None:
    """Forget the visitor (a new token from now on), and the own views a persona's visit set
    aside, if any."""
    visitor.forget()
    if visit is not None and visit.own_token is not None:
        Visitor(visit.own_token).forget()


def persona_visit_cookie(visit: PersonaVisit) -> str:
    """The value of the PERSONA_COOKIE that says `visit` (signed: it holds a token)."""
    return _persona_signer().sign(f"{visit.slug}:{visit.own_token or ''}")


def persona_visit_read(cookie: str | None) -> PersonaVisit | None:
    """The visit a PERSONA_COOKIE says, or None (no cookie, a forged one, or a persona the
    settings no longer have)."""
    if not cookie:
        return None
    try:
        slug, _, own_token = _persona_signer().unsign(cookie).partition(":")
    except BadSignature:
        return None
    described = next((p for p in settings.CIS_PERSONAS if p["slug"] == slug), None)
    if described is None:
        return None
    return PersonaVisit(slug, described["name"], described["who"], own_token or None)


def _persona_signer() -> Signer:
    return Signer(salt="storefront.persona")
