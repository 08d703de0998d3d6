"""Visitors as the shop knows them: what they viewed, what it thinks they like, the views they
record, and the personas a visitor can browse as."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from catalog.search import catalog_searcher
from catalog.selectors import product_exists
from personalization.affinity import Liking, visitor_affinity
from personalization.events import product_view_track
from personalization.serving import model_active
from personalization.state import Visitor, VisitorState
from personalization.view_limits import ViewsLimited

PERSONAS_CACHE_SECONDS = 60
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


@dataclass(frozen=True)
class Persona:
    slug: str
    label: str  # "a runner"
    skus: list[str]  # what browsing as them views, in order


def personas_available() -> list[Persona]:
    """The personas of CIS_PERSONAS that this catalog can play: each views the first result
    of each of its searches (at least two found, or the persona is left out). Worked out at
    most once a minute."""
    return cache.get_or_set("shop:personas", _personas_found, timeout=PERSONAS_CACHE_SECONDS)


def _personas_found() -> list[Persona]:
    searcher = catalog_searcher()
    personas = []
    for slug, label, queries in settings.CIS_PERSONAS:
        found = [searcher.search(query, limit=1).hits for query in queries]
        skus = list(dict.fromkeys(hits[0].sku for hits in found if hits))
        if len(skus) >= 2:
            personas.append(Persona(slug, label, skus))
    return personas


def persona_browse(visitor: Visitor, slug: str) -> Persona | None:
    """Start afresh as the persona `slug`: forget the visitor's state, then view the persona's
    products one after the other, as real views (the state and the event log). None for a
    persona this shop does not have."""
    persona = next((p for p in personas_available() if p.slug == slug), None)
    if persona is None:
        return None
    visitor.forget()
    for sku in persona.skus:
        try:
            product_view_track(visitor, sku)
        except ViewsLimited:
            break  # the flood limits hold for personas too: the state has the views before
    return persona
