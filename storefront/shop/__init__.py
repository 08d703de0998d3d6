"""The one door into the shop: every question a page or an API call asks, answered in one
place, so that `storefront.views` and `storefront.api` import this package and nothing of
`catalog` or `personalization` (an import-linter contract keeps it so).

`search` re-ranks a search for the visitor, `products` answers the product pages and
recommendations, `visitors` what the shop knows of a visitor, `space` the product map and
explorer. A page and its API endpoint call the same function; when the visitor's state cannot
be read (Redis down), each answer is the plain one with a notice, never an error.
"""

from catalog.importing import FIELD_LIMITS
from catalog.pictures import picture_type_sniff
from catalog.search import FACETS, PRICE_HIGH, PRICE_LOW, RELEVANCE, SORTS, search_query_clean
from catalog.selectors import categories_for_target, product_exists, targets_list
from personalization.experiments import ClickRefused
from personalization.middleware import reads_visitor_state, visitor_state_read_ahead
from personalization.space import NotInSpace, SpaceUnavailable, space_map
from personalization.state import visitor_state
from personalization.view_limits import ViewsLimited, user_agent_is_bot

from .products import (
    HomePage,
    ProductPage,
    Recommendations,
    ScoredCard,
    Suggestions,
    home_page,
    product_page,
    products_listed,
    products_popular,
    products_similar,
    products_similar_scored,
    recommendations_for_visitor,
    recommendations_scored,
)
from .search import (
    CompareRow,
    ResultRow,
    SearchOutcome,
    SearchPage,
    search_for_visitor,
    search_page,
    search_pages_count,
)
from .space import (
    SPACE_KINDS,
    WORD,
    ExplorerPage,
    MapPage,
    SpaceAnswer,
    analogy_in_space,
    map_page,
    neighbours_in_space,
    space_explorer_page,
    space_session_of,
)
from .visitors import (
    PERSONA_COOKIE,
    Persona,
    PersonaVisit,
    Profile,
    persona_browse,
    persona_leave,
    persona_visit_cookie,
    persona_visit_read,
    personas_available,
    product_view_record,
    request_from_person,
    result_click_record,
    result_link_click,
    visitor_forget,
    visitor_profile,
)

# Limits on what a request can ask, the same for the pages and the API.
PAGE_MAX = 10_000  # the last page number a search or a listing goes to
FILTER_CHARS = 100  # of a facet filter's value, the rest ignored
SPACE_TERM_CHARS = 200  # of a term typed into the explorer
SKU_CHARS = FIELD_LIMITS["sku"]  # the longest SKU the catalog takes

__all__ = [
    "FACETS",
    "FILTER_CHARS",
    "PAGE_MAX",
    "PRICE_HIGH",
    "PRICE_LOW",
    "RELEVANCE",
    "SKU_CHARS",
    "SORTS",
    "SPACE_KINDS",
    "SPACE_TERM_CHARS",
    "WORD",
    "ClickRefused",
    "CompareRow",
    "ExplorerPage",
    "HomePage",
    "MapPage",
    "NotInSpace",
    "PERSONA_COOKIE",
    "Persona",
    "PersonaVisit",
    "ProductPage",
    "Profile",
    "Recommendations",
    "ResultRow",
    "ScoredCard",
    "SearchOutcome",
    "SearchPage",
    "SpaceAnswer",
    "SpaceUnavailable",
    "Suggestions",
    "ViewsLimited",
    "categories_for_target",
    "home_page",
    "map_page",
    "persona_browse",
    "persona_leave",
    "persona_visit_cookie",
    "persona_visit_read",
    "personas_available",
    "picture_type_sniff",
    "product_exists",
    "product_page",
    "product_view_record",
    "request_from_person",
    "result_click_record",
    "result_link_click",
    "products_listed",
    "products_popular",
    "products_similar",
    "visitor_forget",
    "products_similar_scored",
    "reads_visitor_state",
    "recommendations_for_visitor",
    "recommendations_scored",
    "search_for_visitor",
    "search_page",
    "search_pages_count",
    "search_query_clean",
    "analogy_in_space",
    "space_explorer_page",
    "space_map",
    "neighbours_in_space",
    "space_session_of",
    "targets_list",
    "user_agent_is_bot",
    "visitor_profile",
    "visitor_state",
    "visitor_state_read_ahead",
]
