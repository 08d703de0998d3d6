"""A search for a visitor: the engine's answer re-ranked against their session, a page of it
with its result cards and facets, and the plain order beside it when asked for.

The search engine and the active model are looked up once per request. When the visitor's
state cannot be read (Redis down), the answer is the plain one with a notice, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings

from catalog.search import (
    RELEVANCE,
    CatalogSearch,
    CatalogSearchResult,
    Filters,
    SearchFacets,
    SearchHit,
    catalog_searcher,
)
from catalog.selectors import ProductCard, product_cards
from personalization.engine.interleaving import PERSONALIZED as PERSONALIZED_TEAM
from personalization.engine.reranking import RankedResult, results_rerank
from personalization.experiments import (
    Arm,
    Impression,
    experiment_arm,
    impression_record,
    orders_interleave,
)
from personalization.serving import model_active
from personalization.state import Visitor, VisitorState, visitor_state, visitor_state_reading

ENGINE_NAMES = {
    "embedded": "the built-in search engine",
    "elasticsearch": "Elasticsearch",
    "coveo": "Coveo",
}


@dataclass
class SearchOutcome:
    """A search's first results as shown, and what they were ranked from."""

    query: str  # as searched: the visitor's text, cleaned
    backend: str  # the engine that answered
    personalized: bool
    results: list[RankedResult]  # the first results as shown: re-ranked when personalized
    notices: list[str]
    hits: Sequence[SearchHit] = field(repr=False, compare=False)  # the engine's answer
    state: VisitorState = VisitorState()  # the visitor's, as read for this search (or empty)
    # How many of the engine's order `plain` lists when `results` are re-ranked; None: the
    # results are the engine's order.
    plain_limit: int | None = field(default=None, repr=False, compare=False)
    understood: str | None = None  # what the engine searched instead of the words typed

    @classmethod
    def in_engine_order(
        cls,
        found: CatalogSearchResult,
        *,
        limit: int,
        state: VisitorState | None = None,
        start: int = 0,
    ) -> SearchOutcome:
        """The engine's own order (a visitor without history, a page past the re-rank window,
        a sort), its positions counted from `start`."""
        plain = results_rerank(
            found.hits, session_vector=None, recommender=None, weight=0.0, limit=limit
        )
        for result in plain:
            result.plain_position += start
            result.position += start
        state = state or VisitorState()
        return cls(
            found.query, found.backend, False, plain, _notices(state, found), found.hits, state,
            understood=found.understood,
        )  # fmt: skip

    @classmethod
    def reranked(
        cls,
        found: CatalogSearchResult,
        results: list[RankedResult],
        *,
        state: VisitorState,
        limit: int,
    ) -> SearchOutcome:
        """`results`, the engine's answer `found` re-ranked for a visitor in `state`."""
        personalized = any(result.similarity is not None for result in results)
        notices = _notices(state, found)
        return cls(
            found.query, found.backend, personalized, results, notices, found.hits, state, limit,
            found.understood,
        )  # fmt: skip

    @property
    def engine(self) -> str:
        """The engine that answered, as a page names it ("embedded" reads as embeddings)."""
        return ENGINE_NAMES.get(self.backend, self.backend)

    @cached_property
    def plain(self) -> list[RankedResult]:
        """The engine's own order (as many as `results`), worked out when first asked for: a
        personalized search shown alone does not need it."""
        if self.plain_limit is None:
            return self.results
        return results_rerank(
            self.hits, session_vector=None, recommender=None, weight=0.0, limit=self.plain_limit
        )


def _notices(state: VisitorState, found: CatalogSearchResult) -> list[str]:
    return [*state.notices] + ([found.notice] if found.notice else [])


def search_for_visitor(
    query: str,
    *,
    visitor: Visitor,
    limit: int,
    personalize: bool = True,
    strength: float = 1.0,
    filters: Filters | None = None,
    searcher: CatalogSearch | None = None,
) -> SearchOutcome:
    """The first `limit` of the backend's top window for `query` re-ranked against the
    visitor's session vector, and the first `limit` of the backend's own order.

    A visitor without history (or with `personalize` off, or `strength` 0) gets the backend's
    order. `strength` (0..1) is how far toward the personalized order results move;
    at 0 the results are the plain order exactly, and not personalized, though the visitor's
    state is still read for what the page shows of it.
    `searcher`: the engine, when the caller has resolved it.
    """
    model = model_active()
    searcher = searcher or catalog_searcher()
    rerank = personalize and strength > 0
    # Only a re-rank needs more than what is shown.
    window = max(settings.CIS_RERANK_WINDOW, limit) if rerank else limit
    with visitor_state_reading(visitor, wanted=personalize) as state_read:
        if rerank and searcher.uses_session_vector:  # the engine re-scores: vector first
            state = state_read()
            vector = state.vector(model)
            found = searcher.search(query, limit=window, session_vector=vector, filters=filters)
        else:  # Redis answers while the engine searches
            found = searcher.search(query, limit=window, filters=filters)
            state = state_read()
            vector = state.vector(model) if rerank else None
    if vector is None:
        return SearchOutcome.in_engine_order(found, limit=limit, state=state)
    ranked = results_rerank(
        found.hits,
        session_vector=vector,
        recommender=model.recommender,
        weight=settings.CIS_RERANK_WEIGHT,
        strength=min(max(strength, 0.0), 1.0),
        viewed_skus=state.skus,
        limit=limit,
        window=model.rerank_window(found.hits, answer=found.answer_key),
    )
    return SearchOutcome.reranked(found, ranked, state=state, limit=limit)


@dataclass(slots=True)
class ResultRow:
    """A search result as a page or the API shows it (48 a page: not frozen, which would set
    each field through object.__setattr__)."""

    result: RankedResult
    product: ProductCard
    because: ProductCard | None  # the viewed product it resembles, when that explains it

    @property
    def note(self) -> str:
        """The line under the result's name that says why it is where it is ("" for none)."""
        if self.because is not None:
            return "Because you viewed " + self.because.name
        if self.result.viewed and self.result.moved_up > 0:
            return "You viewed this"
        return ""


@dataclass(frozen=True)
class CompareRow:
    """One line of the side-by-side view: the plain order's result and the personalized one."""

    plain: ResultRow | None
    personalized: ResultRow


@dataclass(frozen=True)
class OrderState:
    """Whether a page of results is personalized, and the sentence that says so or why not;
    `why`: personalized, interleaved, ab, chosen, sorted, strength, past, new or unrelated (the
    page shows only the controls that can change the order)."""

    personalized: bool
    reason: str
    why: str = "personalized"

    @property
    def can_personalize(self) -> bool:
        """Whether the visitor's views can move this page's order (so a plain-or-mine switch,
        the side-by-side view and the strength have something to show)."""
        return self.why in {"personalized", "chosen", "strength", "interleaved"}


@dataclass
class SearchPage:
    outcome: SearchOutcome
    personalize: bool
    rows: list[ResultRow]  # in the order shown: personalized, or plain when not `personalize`
    compared: list[CompareRow]  # the first `compare` rows of both orders, when asked for
    facets: SearchFacets | None  # how many match, over targets and categories (when counted)
    page: int = 1
    pages: int | None = None  # None when the facets were not counted
    filters: dict[str, str] = field(default_factory=dict)
    sort: str = RELEVANCE
    strength: float = 1.0
    window: int = 0  # how many of the engine's first results a re-rank may reorder
    offset: int = 0  # of the page's first result
    impression: Impression | None = None  # the page as shown to a person, which clicks name

    @property
    def order(self) -> OrderState:
        """Personalized, or the one reason this page follows the engine's order: the visitor
        chose it, a sort by price, strength 0, a page past the re-ranked window, no views yet,
        or views that say nothing about these results."""
        experiment = self.impression.experiment if self.impression else None
        if experiment == "interleaving" and self.impression.teams:
            return OrderState(
                True,
                "Part of an experiment: this list mixes the plain order and the one personalized "
                "for you, to learn from your clicks which serves you better.",
                "interleaved",
            )
        if experiment == "ab" and self.impression.arm == Arm.AB_PLAIN:
            return OrderState(
                False,
                "Plain order: you are in an experiment that compares it with the personalized "
                "order (an A/B test).",
                "ab",
            )
        if self.outcome.personalized and self.personalize:
            if experiment == "ab":
                return OrderState(
                    True,
                    "Personalized for you: re-ranked by what you viewed. You are in an "
                    "experiment that compares it with the plain order (an A/B test).",
                )
            return OrderState(True, "Personalized for you: re-ranked by what you viewed.")
        if not self.personalize:
            why, reason = "chosen", f"Plain order, as {self.outcome.engine} ranks it."
        elif self.sort != RELEVANCE:
            why, reason = (
                "sorted",
                "Sorted by price: personalization applies to the relevance order.",
            )
        elif self.strength <= 0:
            why, reason = (
                "strength",
                "Plain order: the strength is at 0, so your views do not count.",
            )
        elif self.offset >= self.window:
            why, reason = (
                "past",
                (
                    f"Plain order: personalization re-ranks the first {self.window} results, "
                    "and this page is past them."
                ),
            )
        elif not self.outcome.state.skus:
            why = "new"
            reason = "Plain order: view a few products and these results will adapt to you."
        else:
            why = "unrelated"
            reason = "Plain order: what you viewed says nothing about these results yet."
        return OrderState(False, reason, why)


def search_page(
    query: str,
    *,
    visitor: Visitor,
    limit: int,
    personalize: bool = True,
    strength: float = 1.0,
    compare: int = 0,
    filters: Filters | None = None,
    page: int = 1,
    sort: str = RELEVANCE,
    counted: bool = True,
    shown_to_person: bool = False,
) -> SearchPage:
    """Page `page` (of `limit` results) of a search for this visitor, narrowed by `filters`, in
    `sort` order, with every product card it shows, looked up together: the results
    (personalized, or plain when not `personalize`), the products they were chosen "because"
    of, with `compare` the first `compare` of the plain order beside them, and when `counted`,
    the facets (a count of everything that matches, which costs what a search does).

    Pages within the re-rank window are personalized; pages past it, and a sort by price,
    follow the engine's order.

    A page `shown_to_person` (not a bot's, a HEAD or a prefetch) is recorded as an impression,
    the side-by-side view excepted; a visitor drawn into an experiment sees its list there
    (personalization.experiments), unless they chose another order, strength or sort."""
    searcher = catalog_searcher()
    filters = {name: value for name, value in (filters or {}).items() if value}
    side_by_side = bool(compare)
    offset = (max(page, 1) - 1) * limit
    window = max(settings.CIS_RERANK_WINDOW, limit)
    recorded = shown_to_person and not side_by_side
    arm = None
    # A visitor without a cookie yet has no views: both orders are the engine's, for them.
    if recorded and visitor.id and personalize and strength >= 1 and sort == RELEVANCE:
        arm = experiment_arm(visitor.id)
    interleaving = arm == Arm.INTERLEAVED and offset + limit <= window
    if arm == Arm.AB_PLAIN:
        personalize = False
    tail: SearchOutcome | None = None  # the engine's order past the window
    if sort == RELEVANCE and offset < window:
        outcome = search_for_visitor(
            query,
            visitor=visitor,
            limit=min(offset + limit, window),
            personalize=personalize,
            strength=strength,
            filters=filters,
            searcher=searcher,
        )
        if offset + limit > window:  # the page runs past the window: the engine's order then
            after = searcher.search(
                query, limit=offset + limit - window, filters=filters, offset=window
            )
            tail = SearchOutcome.in_engine_order(after, limit=limit, start=window)
    else:
        found = searcher.search(query, limit=limit, filters=filters, offset=offset, sort=sort)
        # Not re-ranked, but the page still shows what the shop thinks the visitor likes.
        state = visitor_state(visitor) if personalize else VisitorState()
        outcome = SearchOutcome.in_engine_order(found, limit=limit, start=offset, state=state)
        offset, compare = 0, 0
    shown = (outcome.results if personalize else outcome.plain)[offset:]
    teams = {}
    if interleaving and outcome.personalized:
        shown, teams = _interleaved(outcome, visitor, query, filters, offset=offset, limit=limit)
    known = list(outcome.hits)  # hits that carry their display fields make their cards
    if tail is not None:
        shown, known = shown + tail.results, known + list(tail.hits)
    plain = outcome.plain[offset : offset + compare] if compare else []  # only when shown
    cards = product_cards(
        [r.sku for r in shown] + [r.because for r in shown if r.because] + [r.sku for r in plain],
        known=known,
        stored=searcher.products_stored,
    )
    rows = [_row(r, cards) for r in shown if r.sku in cards]
    compared = [
        CompareRow(_row(p, cards) if p.sku in cards else None, row)
        for p, row in zip(plain, rows[:compare], strict=False)
    ]
    impression = None
    if recorded and rows:
        if arm is None or (arm == Arm.INTERLEAVED and not interleaving):
            arm = Arm.PERSONALIZED if outcome.personalized and personalize else Arm.PLAIN
        impression = impression_record(
            visitor,
            query=outcome.query,
            page=page,
            arm=arm,
            skus=[row.result.sku for row in rows],
            teams="".join(teams.get(row.result.sku, "") for row in rows) if teams else "",
        )
    facets = _facets_to_switch(searcher, query, filters) if counted else None
    pages = max(1, math.ceil(facets.total / limit)) if facets is not None else None
    if side_by_side and pages is not None:  # both orders differ only within the window
        pages = min(pages, max(1, math.ceil(window / limit)))
    return SearchPage(
        outcome,
        personalize,
        rows,
        compared,
        facets,
        page,
        pages,
        filters,
        sort,
        strength=strength,
        window=window,
        offset=(max(page, 1) - 1) * limit,
        impression=impression,
    )


def _interleaved(
    outcome: SearchOutcome,
    visitor: Visitor,
    query: str,
    filters: dict[str, str],
    *,
    offset: int,
    limit: int,
) -> tuple[list[RankedResult], dict[str, str]]:
    """The page of the two orders interleaved (team draft), each result as its team ranked it,
    and the team of each when the two orders differ on the page ({} when they do not: an
    impression without anything to credit)."""
    personalized = {result.sku: result for result in outcome.results}
    plain = {result.sku: result for result in outcome.plain}
    mixed = orders_interleave(
        list(personalized),
        list(plain),
        visitor_id=visitor.id,
        query="\n".join([query, *(f"{name}={value}" for name, value in sorted(filters.items()))]),
        length=offset + limit,
    )
    page = list(zip(mixed.items, mixed.teams, strict=True))[offset : offset + limit]
    shown = [personalized[sku] if team == PERSONALIZED_TEAM else plain[sku] for sku, team in page]
    same = list(personalized)[offset : offset + limit] == list(plain)[offset : offset + limit]
    return shown, ({} if same else dict(page))


def search_pages_count(query: str, *, limit: int, filters: Filters | None = None) -> int:
    """How many pages of `limit` results a search has (one, when nothing matches): what a
    page past the last tells its reader, counted only then, as it costs a search."""
    filters = {name: value for name, value in (filters or {}).items() if value}
    total = catalog_searcher().facets(query, filters=filters).total
    return max(1, math.ceil(total / limit))


def _facets_to_switch(searcher: CatalogSearch, query: str, filters: dict[str, str]) -> SearchFacets:
    """The facets of `query` within `filters`, each chosen field's values counted as if it were
    not chosen (the other filters kept), so a shopper sees the other values to switch to; the
    total is the chosen filters'. One more count per chosen field."""
    facets = searcher.facets(query, filters=filters)
    values = dict(facets.values)
    for chosen in filters:
        others = {name: value for name, value in filters.items() if name != chosen}
        values[chosen] = searcher.facets(query, filters=others).values.get(chosen, [])
    return SearchFacets(facets.total, values)


def _row(result: RankedResult, cards: dict[str, ProductCard]) -> ResultRow:
    because = cards.get(result.because) if result.because else None
    return ResultRow(result, cards[result.sku], because)
