"""catalog.search.embedded: the built-in SQLite FTS5 engine, and the index_catalog command."""

import fcntl
import logging
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import tantivy
from django.core.management import call_command

from catalog.models import Product
from catalog.search import SearchUnavailable, catalog_search, embedded, search_backend
from catalog.search.embedded import EmbeddedSearch

NASTY_QUERIES = [
    '"',
    '"running',
    "'shoe'",
    "(shoe",
    "shoe)",
    "((()))",
    "NEAR(running shoe, 2)",
    "running NEAR shoe",
    "name:shoe",
    "{name target}: shoe",
    "-shoe",
    "- shoe",
    "^shoe",
    "shoe*",
    "*",
    "AND",
    "OR NOT AND",
    "shoe AND",
    "NOT shoe",
    "+shoe",
    ":",
    "name:",
    "shoe; DROP TABLE products; --",
    "shoe\x00men",
    "\x00",
    "\x01\x02\x1b[31m\x7f",
    "🏃‍♀️👟",
    "👟 shoe 🔥",
    "Café Über naïve",
    "_",
    "a_b __init__",
    "shoe " * 2000,  # 10 KB
    "x" * 10_000,
    "",
    "   ",
]


def product(sku: str, name: str, target: str = "", category: str = "") -> Product:
    return Product(
        sku=sku, name=name, target=target, extra={"category": category} if category else {}
    )


SHOP = [
    product("RUN-1", "Women's Lightweight Running Shoe, Coral", "women", "running shoes"),
    product("RUN-2", "Men's Cushioned Running Shoe, Black", "men", "running shoes"),
    product("RUN-3", "Women's Running Shorts, Navy", "women", "running shorts"),
    product("HIK-1", "Men's Waterproof Hiking Boot, Olive", "men", "hiking boots"),
    product("HIK-2", "Women's Fleece Jacket, Plum", "women", "fleece"),
    product("CAF-1", "Café Crème Cap", "lifestyle", "caps"),
]


@pytest.fixture
def index_path(settings, tmp_path):
    settings.SEARCH_BACKEND = "embedded"
    settings.CIS_SEARCH_INDEX_PATH = tmp_path / "index" / "search-index"
    return settings.CIS_SEARCH_INDEX_PATH


@pytest.fixture
def engine(index_path):
    engine = search_backend("embedded")
    engine.index_rebuild(SHOP)
    return engine


def index_folders(index_path) -> list:
    """The index folders beside the link (the live one, and any being built)."""
    return [p for p in index_path.parent.iterdir() if p.is_dir() and not p.is_symlink()]


def skus(hits) -> list[str]:
    return [hit.sku for hit in hits]


def test_backend_reads_its_file_from_settings(index_path):
    engine = search_backend()
    assert isinstance(engine, EmbeddedSearch)
    assert engine.path == index_path
    assert engine.name == "embedded"


def test_search_stems_english_plurals(engine):
    assert set(skus(engine.search("shoes"))) == {"RUN-1", "RUN-2"}
    assert set(skus(engine.search("boots hiking"))) == {"HIK-1"}
    assert "RUN-3" in skus(engine.search("run"))


def test_search_folds_diacritics_and_case(engine):
    assert skus(engine.search("CAFE CREME")) == ["CAF-1"]


def test_search_scores_are_positive_and_best_first(engine):
    hits = engine.search("running")
    assert len(hits) == 3
    assert all(hit.score > 0 and hit.similarity is None for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_search_ranks_a_name_match_above_a_target_only_match(index_path):
    engine = search_backend("embedded")
    engine.index_rebuild(
        [
            product("T-1", "Trail Jacket", "running", "jackets"),
            product("N-1", "Running Sock", "men", "socks"),
        ]
    )
    assert skus(engine.search("running")) == ["N-1", "T-1"]


def test_search_needs_every_word_when_some_product_has_them_all(engine):
    assert set(skus(engine.search("running shoe"))) == {"RUN-1", "RUN-2"}
    assert skus(engine.search("women shoe")) == ["RUN-1"]
    assert skus(engine.search("women's shoes")) == ["RUN-1"]


def test_search_falls_back_to_any_word_when_no_product_has_them_all(engine):
    hits = skus(engine.search("hiking shorts"))
    assert set(hits) == {"HIK-1", "RUN-3"}


def test_search_treats_operators_as_plain_words(engine):
    # Parsed as FTS5, NOT would drop the women's shoe and name: would restrict the column.
    assert "RUN-1" in skus(engine.search("shoe NOT women"))
    assert set(skus(engine.search("target:running"))) >= {"RUN-1", "RUN-2", "RUN-3"}


@pytest.mark.parametrize("query", NASTY_QUERIES, ids=range(len(NASTY_QUERIES)))
def test_nasty_queries_are_searched_as_words_and_never_raise(engine, query):
    hits = engine.search(query)
    assert isinstance(hits, list)
    assert all(hit.sku in {p.sku for p in SHOP} for hit in hits)


def test_nasty_queries_through_catalog_search_never_raise(engine):
    for query in NASTY_QUERIES:
        result = catalog_search(query, limit=5)
        assert result.backend == "embedded" and result.notice is None
        assert len(result.hits) <= 5


def test_search_respects_limit(engine):
    assert len(engine.search("women", limit=2)) == 2
    assert engine.search("women", limit=0) == []


def test_rebuild_swaps_atomically_while_searches_use_the_old_index(engine, index_path):
    live = index_path.resolve()
    seen_during_build = []

    def new_catalog():
        yield product("NEW-1", "Trail Running Shoe, Green", "men", "running shoes")
        building = [p for p in index_folders(index_path) if p != live]
        assert building  # the new index goes to a folder of its own...
        seen_during_build.append(skus(engine.search("coral")))  # ...the old one still answers
        seen_during_build.append(skus(engine.search("green")))
        yield product("NEW-2", "Rain Shell", "women", "jackets")

    assert engine.index_rebuild(new_catalog()) == 2
    assert seen_during_build == [["RUN-1"], []]
    assert skus(engine.search("coral")) == []
    assert skus(engine.search("green")) == ["NEW-1"]
    assert index_folders(index_path) == [index_path.resolve()]  # the old folder is gone


def test_failed_rebuild_keeps_the_old_index(engine, index_path):
    def broken_catalog():
        yield product("NEW-1", "Trail Running Shoe", "men")
        raise RuntimeError("the database went away")

    live = index_path.resolve()
    with pytest.raises(RuntimeError):
        engine.index_rebuild(broken_catalog())
    assert skus(engine.search("coral")) == ["RUN-1"]
    assert index_folders(index_path) == [live]  # nothing left behind


def test_update_upserts_and_deletes(engine):
    assert "RUN-2" in skus(engine.search("shoes"))  # this thread now keeps a connection open
    engine.index_update(
        [
            product("HIK-2", "Women's Fleece Running Vest, Plum", "women", "fleece"),
            product("NEW-1", "Kids' Running Shoe", "kids", "running shoes"),
        ],
        deleted_skus=["RUN-2", "NEVER-INDEXED"],
    )
    assert set(skus(engine.search("shoes"))) == {"RUN-1", "NEW-1"}
    assert skus(engine.search("vest")) == ["HIK-2"]
    assert skus(engine.search("jacket")) == []  # the old name is gone, not duplicated
    assert skus(engine.search("fleece")) == ["HIK-2"]


def test_update_without_an_index_leaves_building_to_the_first_search(index_path):
    search_backend("embedded").index_update([SHOP[0]], deleted_skus=["RUN-2"])
    assert not index_path.exists()


def test_missing_index_is_built_from_the_catalog_on_first_search(products, index_path, caplog):
    assert not index_path.exists()
    with caplog.at_level(logging.INFO, logger="catalog.search.embedded"):
        hits = search_backend().search("shoes")
    assert set(skus(hits)) == {"RUN-1", "RUN-2"}
    assert index_path.exists()
    assert "missing" in caplog.text


def test_unreadable_index_is_unavailable_not_a_crash(engine, index_path):
    (index_path.resolve() / "meta.json").write_bytes(b"this is not an index" * 100)
    embedded._reader_forget(index_path)  # as a process that opens it now
    with pytest.raises(SearchUnavailable):
        engine.search("shoes")
    result = catalog_search("shoes")
    assert result.hits == [] and result.notice == "Search is unavailable right now; please retry."


def test_the_index_is_a_folder_of_its_own_behind_a_link(engine, index_path):
    assert index_path.is_symlink() and index_path.resolve().is_dir()
    assert (index_path.resolve() / embedded.VERSION_FILE).read_text() == str(
        embedded.SCHEMA_VERSION
    )
    searcher = embedded._reader(index_path).index.searcher()
    assert searcher.num_docs == len(SHOP)


def test_index_catalog_command_builds_the_configured_index(products, index_path):
    out = StringIO()
    call_command("index_catalog", stdout=out)
    assert "Indexed 6 products into the embedded search index" in out.getvalue()
    Product.objects.filter(sku="RUN-2").delete()
    call_command("index_catalog", "--backend", "embedded")
    assert set(skus(search_backend().search("shoes"))) == {"RUN-1"}


def test_search_gives_up_waiting_for_another_first_build(index_path, monkeypatch):
    monkeypatch.setattr(embedded, "BUILD_WAIT", 0.2)
    index_path.parent.mkdir(parents=True)
    with open(index_path.with_name(index_path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process is building the first index
        with pytest.raises(SearchUnavailable, match="being built"):
            search_backend().search("shoes")
        assert catalog_search("shoes").notice == "Search is unavailable right now; please retry."


def test_the_index_stores_the_display_fields_of_what_it_finds(index_path):
    engine = search_backend("embedded")
    engine.index_rebuild(
        [Product(sku="IMG-1", name="Trail Shoe", target="men", image="https://cdn.example/t.jpg")]
    )
    (hit,) = engine.search("shoe")
    (stored,) = engine.products_stored([hit.sku])
    assert hit.display == stored.display  # a page of hits comes with its display fields
    fields = (stored.fields["name"], stored.fields["target"], stored.fields["image"])
    assert fields == ("Trail Shoe", "men", "https://cdn.example/t.jpg")


def test_another_process_updating_the_index_shows_at_the_next_search(engine, index_path):
    assert skus(engine.search("vest")) == []  # this process now holds a reader
    root, path = str(Path(__file__).resolve().parents[2]), str(index_path)
    script = (
        f"import sys; sys.path.insert(0, {root!r})\n"
        "import django, os\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'storefront.settings'\n"
        "django.setup()\n"
        "from catalog.models import Product\n"
        "from catalog.search.embedded import EmbeddedSearch\n"
        "vest = Product(sku='VST-1', name='Running Vest', target='men', extra={})\n"
        f"EmbeddedSearch({path!r}).index_update([vest])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert skus(engine.search("vest")) == ["VST-1"]


def test_stored_products_are_answered_in_the_order_asked(engine):
    asked = ["HIK-1", "NOT-THERE", "RUN-1", "HIK-1"]
    assert [(h.sku, h.name) for h in engine.products_stored(asked)] == [
        ("HIK-1", "Men's Waterproof Hiking Boot, Olive"),
        ("RUN-1", "Women's Lightweight Running Shoe, Coral"),
    ]
    engine.index_update([product("HIK-1", "Olive Trail Boot", "men", "hiking boots")])
    assert [h.name for h in engine.products_stored(["HIK-1"])] == ["Olive Trail Boot"]
    assert engine.products_stored([]) == []


def test_an_index_of_an_older_kind_is_rebuilt_on_first_search(products, index_path, caplog):
    index_path.parent.mkdir(parents=True)
    index_path.write_bytes(b"SQLite format 3\x00")  # where an FTS5 file may have been
    with caplog.at_level(logging.INFO, logger="catalog.search.embedded"):
        hits = search_backend().search("shoes")
    assert set(skus(hits)) == {"RUN-1", "RUN-2"}
    assert search_backend().products_stored(["RUN-1"])[0].name is not None
    assert index_path.is_symlink()
    (index_path.resolve() / embedded.VERSION_FILE).write_text("3")
    embedded._reader_forget(index_path)  # as a process of the newer code starting
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="catalog.search.embedded"):
        assert set(skus(search_backend().search("shoes"))) == {"RUN-1", "RUN-2"}
    assert "schema version 3" in caplog.text
    assert (index_path.resolve() / embedded.VERSION_FILE).read_text() == str(
        embedded.SCHEMA_VERSION
    )


def test_an_update_to_an_index_of_an_older_schema_rebuilds_it_with_the_change(products, index_path):
    engine = search_backend("embedded")
    engine.index_rebuild(Product.objects.all())
    (index_path.resolve() / embedded.VERSION_FILE).write_text("3")
    renamed = Product.objects.get(sku="HIK-1")
    renamed.name = "Olive Trail Boot"
    renamed.save()
    engine.index_update([renamed])  # what a catalog load does while another engine serves
    assert [(h.sku, h.name) for h in engine.products_stored(["HIK-1"])] == [
        ("HIK-1", "Olive Trail Boot")
    ]
    assert engine.products_stored(["RUN-1"])[0].fields["extra"] == {"category": "running shoes"}


def test_an_admin_edit_reaches_the_search_index(
    products, index_path, admin_client, django_capture_on_commit_callbacks
):
    call_command("index_catalog")
    product = Product.objects.get(sku="HIK-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/catalog/product/{product.sku}/change/",
            {"sku": "HIK-1", "name": "Men's Waterproof Hiking Shoe", "target": "men",
             "image": "", "extra": '{"category": "hiking boots"}'},
        )  # fmt: skip
    assert response.status_code == 302, response.content[:500]
    assert "HIK-1" in skus(search_backend().search("shoe"))
    (stored,) = search_backend().products_stored(["HIK-1"])
    assert stored.name == "Men's Waterproof Hiking Shoe"
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/admin/catalog/product/{product.sku}/delete/", {"post": "yes"})
    assert "HIK-1" not in skus(search_backend().search("hiking"))


def test_possessives_are_one_token_whoever_they_name():
    counts = {
        name: len(embedded.tokens(name))
        for name in ("Men's Running Shoe", "Women's Running Shoe", "Kids' Running Shoe")
    }
    assert set(counts.values()) == {3}, counts
    assert embedded.tokens("Men\u2019s Shoes") == embedded.tokens("mens shoe")


def test_the_same_product_for_another_audience_scores_the_same(index_path):
    engine = search_backend("embedded")
    engine.index_rebuild(
        [
            product("M-1", "Men's Stability Running Shoe, Blue", "men", "running shoes"),
            product("K-1", "Kids' Stability Running Shoe, Blue", "kids", "running shoes"),
            product("W-1", "Women's Stability Running Shoe, Blue", "women", "running shoes"),
        ]
    )
    scores = {hit.sku: hit.score for hit in engine.search("shoes")}
    assert len(scores) == 3 and len(set(scores.values())) == 1, scores


def test_misspelt_words_find_their_products_below_exact_matches(index_path):
    engine = search_backend("embedded")
    engine.index_rebuild(
        [
            *SHOP,
            product("JAK-1", "Men's Rain Jacket, Navy", "men", "rain jackets"),
            product("SHO-1", "Trail Shoe Laces", "unisex", "laces"),  # "shoe", not "shoes"
        ]
    )
    assert set(skus(engine.search("sheos"))) >= {"RUN-1", "RUN-2"}
    assert set(skus(engine.search("jaket"))) == {"HIK-2", "JAK-1"}
    assert set(skus(engine.search("runing shoes"))) == {"RUN-1", "RUN-2"}
    exact_then_near = engine.search("laces")
    assert skus(exact_then_near)[0] == "SHO-1"


def test_short_words_match_exactly_only(engine):
    assert skus(engine.search("cap")) == ["CAF-1"]
    assert skus(engine.search("cup")) == []  # one edit from "cap", but three letters
    assert skus(engine.search("boot")) == ["HIK-1"]
    assert skus(engine.search("bost")) == ["HIK-1"]  # four letters: one edit is forgiven


def priced(sku: str, name: str, target: str, category: str, price: str) -> Product:
    return Product(sku=sku, name=name, target=target, extra={"category": category, "price": price})


@pytest.fixture
def priced_engine(index_path):
    engine = search_backend("embedded")
    engine.index_rebuild(
        [
            priced("S-1", "Men's Trail Shoe", "men", "trail shoes", "120.00"),
            priced("S-2", "Women's Trail Shoe", "women", "trail shoes", "95.50"),
            priced("S-3", "Men's Road Shoe", "men", "road shoes", "$1,020.00"),
            priced("S-4", "Kids' Road Shoe", "kids", "road shoes", "40"),
            product("S-5", "Men's Court Shoe", "men", "court shoes"),  # no price
            product("J-1", "Men's Rain Jacket", "men", "jackets"),
        ]
    )
    return engine


def test_filters_narrow_to_the_values_asked_for(priced_engine):
    assert set(skus(priced_engine.search("shoe", filters={"target": "men"}))) == {
        "S-1",
        "S-3",
        "S-5",
    }
    narrowed = priced_engine.search("shoe", filters={"target": "men", "category": "road shoes"})
    assert skus(narrowed) == ["S-3"]
    assert priced_engine.search("shoe", filters={"target": "nobody"}) == []
    assert len(priced_engine.search("shoe", filters={"colour": "red", "target": ""})) == 5


def test_facets_count_what_matches_by_target_and_category(priced_engine):
    facets = priced_engine.facets("shoe")
    assert facets.total == 5
    assert facets.values["target"] == [("men", 3), ("kids", 1), ("women", 1)]
    assert facets.values["category"] == [("road shoes", 2), ("trail shoes", 2), ("court shoes", 1)]
    men = priced_engine.facets("shoe", filters={"target": "men"})
    assert men.total == 3 and men.values["target"] == [("men", 3)]
    assert priced_engine.facets("").total == 0


def test_pages_follow_each_other_without_overlap(priced_engine):
    everything = skus(priced_engine.search("shoe", limit=10))
    pages = [skus(priced_engine.search("shoe", limit=2, offset=o)) for o in (0, 2, 4)]
    assert [sku for page in pages for sku in page] == everything and len(everything) == 5


def test_a_sort_by_price_puts_products_without_one_last(priced_engine):
    low = skus(priced_engine.search("shoe", sort="price_asc", limit=10))
    assert low == ["S-4", "S-2", "S-1", "S-3", "S-5"]
    high = skus(priced_engine.search("shoe", sort="price_desc", limit=10))
    assert high == ["S-3", "S-1", "S-2", "S-4", "S-5"]  # without a price: last either way
    assert skus(priced_engine.search("shoe", sort="price_asc", limit=2, offset=2)) == ["S-1", "S-3"]


def test_categories_take_turns_among_near_ties():
    found = [(10.0, "a1"), (10.0, "a2"), (9.9, "a3"), (9.8, "b1"), (9.8, "c1"), (5.0, "a4")]
    groups = [1, 1, 1, 2, 3, 1]
    mixed = [item for _, item in embedded.ties_mixed(found, groups)]
    assert mixed == ["a1", "b1", "c1", "a2", "a3", "a4"]  # a4 is not a near-tie: it stays last
    assert embedded.ties_mixed([], []) == []


def test_products_added_by_another_process_are_found_by_their_code(engine, index_path):
    table = embedded._reader(index_path).table
    assert table.skus_of([0, len(SHOP) - 1]) == [SHOP[0].sku, SHOP[-1].sku]
    engine.index_update([product("NEW-1", "Coral Beanie", "unisex", "beanies")])
    assert len(table.skus) == len(SHOP)  # the line was written after this reader read the file
    assert table.skus_of([len(SHOP)]) == ["NEW-1"]  # read when a code beyond it turns up
    engine.index_update([product("NEW-1", "Coral Beanie, Wool", "unisex", "beanies")])
    lines = (index_path.resolve() / embedded.SKUS_FILE).read_text().splitlines()
    assert lines.count('"NEW-1"') == 1  # an update keeps the product's code
    engine.index_update(
        [product(f"B-{i:02d}", "Coral Beanie", "kids", "beanies") for i in range(60)]
    )
    wide = engine.search("beanie", limit=200)  # more than a page: read by codes, no document
    assert sorted(hit.sku for hit in wide) == sorted(["NEW-1", *(f"B-{i:02d}" for i in range(60))])
    assert all(hit.display is None for hit in wide)


def test_a_repeated_search_is_answered_from_the_process_until_the_index_changes(
    engine, index_path, settings, monkeypatch
):
    ran = []
    ranked = EmbeddedSearch._ranked

    def counted(self, *args):
        ran.append(args[2])
        return ranked(self, *args)

    monkeypatch.setattr(EmbeddedSearch, "_ranked", counted)
    first = engine.search("shoes")
    assert engine.search("shoes") == first and len(ran) == 1  # the second from the answers
    engine.index_update([product("NEW-1", "Coral Running Shoe", "men", "running shoes")])
    assert "NEW-1" in skus(engine.search("shoes")) and len(ran) == 2  # a commit drops them
    settings.CIS_SEARCH_CACHE_ENTRIES = 0
    engine.index_update([product("NEW-2", "Teal Running Shoe", "men", "running shoes")])
    engine.search("shoes")
    engine.search("shoes")
    assert len(ran) == 4  # none kept


def test_facets_are_counted_once_until_the_index_changes(engine, monkeypatch):
    counted = []
    count = EmbeddedSearch._counted

    def counting(self, *args, **kwargs):
        counted.append(kwargs["filters"])
        return count(self, *args, **kwargs)

    monkeypatch.setattr(EmbeddedSearch, "_counted", counting)
    first = engine.facets("shoes")
    assert engine.facets("shoes") == first and len(counted) == 1
    men = engine.facets("shoes", filters={"target": "men"})
    assert men != first and len(counted) == 2  # other filters: counted apart
    engine.index_update([product("NEW-1", "Coral Running Shoe", "men", "running shoes")])
    assert engine.facets("shoes").total == first.total + 1 and len(counted) == 3


SHOPPERS_SHOP = [
    product("TEE-1", "Men's Graphic Tee, Red", "men", "casual tees"),
    product("TEE-2", "Women's Running Tee, Blue", "women", "running tees"),
    product("SKT-1", "Women's Tennis Skirt, White", "women", "tennis skirts"),
    product("SNK-1", "Men's Canvas Sneaker, Sand", "men", "sneakers"),
    product("RUN-1", "Women's Lightweight Running Shoe, Coral", "women", "running shoes"),
    product("BAG-1", "20L Hiking Backpack, Sand", "unisex", "backpacks"),
    product("BAG-2", "Waterproof Daypack, Navy", "unisex", "backpacks"),
]
SHOPPERS_SYNONYMS = """# the shop's words
t-shirt, tshirt, tee, t shirt, shirt
trainers => sneakers, running shoes
"""


@pytest.fixture
def synonyms_file(settings, tmp_path):
    settings.CIS_SYNONYMS_FILE = tmp_path / "synonyms.txt"
    settings.CIS_SYNONYMS_FILE.write_text(SHOPPERS_SYNONYMS)
    return settings.CIS_SYNONYMS_FILE


@pytest.fixture
def shoppers_engine(index_path, synonyms_file):
    engine = search_backend("embedded")
    engine.index_rebuild(SHOPPERS_SHOP)
    return engine


@pytest.mark.parametrize("query", ["tshirt", "t-shirt", "T Shirt", "shirt", "tee"])
def test_synonyms_find_the_tees_whatever_a_shopper_calls_them(shoppers_engine, query):
    found = shoppers_engine.search(query)
    assert set(skus(found)) == {"TEE-1", "TEE-2"}  # never the skirt, one letter from "shirt"
    assert found.understood == (None if query == "tee" else "tee")
    assert shoppers_engine.facets(query).total == 2


def test_a_one_way_synonym_searches_its_alternatives_instead(shoppers_engine):
    found = shoppers_engine.search("trainers")
    assert set(skus(found)) == {"SNK-1", "RUN-1"}
    assert found.understood == "sneakers or running shoes"
    assert skus(shoppers_engine.search("women trainers")) == ["RUN-1"]
    assert shoppers_engine.search("women trainers").understood == (
        "women (sneakers or running shoes)"
    )


def test_a_misspelt_word_is_read_as_the_nearest_catalog_word_categories_included(
    shoppers_engine,
):
    found = shoppers_engine.search("backpak")
    assert set(skus(found)) == {"BAG-1", "BAG-2"}  # the daypack by its category
    assert found.understood == "backpack"
    assert shoppers_engine.facets("backpak").total == 2
    assert shoppers_engine.search("sneakr").understood == "sneaker"


def test_words_the_catalog_has_are_searched_as_typed_and_say_nothing(shoppers_engine):
    found = shoppers_engine.search("skirt")
    assert skus(found) == ["SKT-1"] and found.understood is None
    assert shoppers_engine.search("backpacks").understood is None


def test_without_synonyms_a_word_the_catalog_lacks_is_corrected_and_says_so(index_path, settings):
    settings.CIS_SYNONYMS_FILE = index_path.parent / "no-such-file.txt"
    engine = search_backend("embedded")
    engine.index_rebuild(SHOPPERS_SHOP)
    found = engine.search("shirt")
    assert skus(found) == ["SKT-1"] and found.understood == "skirt"  # never silently


def test_a_query_in_quotes_is_searched_as_typed(shoppers_engine):
    assert skus(shoppers_engine.search('"tshirt"')) == []
    assert skus(shoppers_engine.search('"backpak"')) == []
    quoted = shoppers_engine.search('"skirt"')
    assert skus(quoted) == ["SKT-1"] and quoted.understood is None


def test_the_synonyms_file_is_read_again_once_it_changes(shoppers_engine, synonyms_file):
    assert skus(shoppers_engine.search("rucksack")) == []
    synonyms_file.write_text(SHOPPERS_SYNONYMS + "rucksack => backpack, daypack\n")
    found = shoppers_engine.search("rucksack")
    assert set(skus(found)) == {"BAG-1", "BAG-2"} and found.understood == "backpack or daypack"


def test_a_malformed_synonyms_file_is_logged_and_search_goes_on(
    shoppers_engine, synonyms_file, caplog
):
    synonyms_file.write_text("tee, tshirt\nsneakers =>\n")
    with caplog.at_level(logging.ERROR):
        assert skus(shoppers_engine.search("skirt")) == ["SKT-1"]
    assert "line 2" in caplog.text


def test_catalog_search_result_says_what_was_understood(shoppers_engine):
    found = catalog_search("tshirt")
    assert found.understood == "tee" and len(found.hits) == 2
    assert catalog_search("tee").understood is None


def test_a_correction_is_the_most_frequent_of_the_nearest_catalog_words():
    vocabulary = embedded._Vocabulary(
        [("shoe", 40), ("running", 30), ("basketball", 20), ("shop", 5), ("shoes", 3)]
    )
    assert vocabulary.correction("shoa") == "shoe"  # one edit from "shoe" and "shop"
    assert vocabulary.correction("sheos") == "shoes"  # a swap is one edit
    assert vocabulary.correction("runnign") == "running"
    assert vocabulary.correction("rumming") is None  # two edits, but only seven letters
    assert vocabulary.correction("bsketbal") == "basketball"  # two edits from eight letters
    assert vocabulary.correction("sho") is None  # too short to correct
    assert vocabulary.correction("basketball" * 3) is None


def test_a_one_word_query_is_its_terms_union_scored_as_the_wrapped_one(engine):
    """One word is searched as the union of its fields' terms, not inside a boolean of one
    clause (which tantivy ranked through an extra step per match): same hits, same scores."""
    units = ((("running",),),)
    query = embedded._units_query(units, every=True)
    assert repr(query).startswith("Query(BooleanQuery { subqueries: [(Should, Boost")
    wrapped = tantivy.Query.boolean_query([(tantivy.Occur.Must, query)])
    searcher = embedded._reader(engine.path).index.searcher()
    mine = searcher.search(query, 10, count=False).hits
    assert len(mine) == 3
    assert mine == searcher.search(wrapped, 10, count=False).hits
