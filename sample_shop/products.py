"""The sample shop's assortment: categories by activity, and seeded products with names a
shopper would recognise, written out as `catalog.csv`.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CATALOG_COLUMNS = ("sku", "name", "target", "image", "category", "activity", "color", "price")
AUDIENCE_PREFIX = {"men": "Men's ", "women": "Women's ", "kids": "Kids' ", "unisex": ""}
KIDS_PRICE_FACTOR = 0.65

# Name -> RGB, used by the names and by the drawn images alike.
COLORS: dict[str, tuple[int, int, int]] = {
    "Black": (34, 34, 38),
    "White": (248, 248, 246),
    "Charcoal": (66, 70, 78),
    "Grey": (150, 154, 160),
    "Navy": (31, 48, 94),
    "Blue": (40, 100, 200),
    "Royal Blue": (45, 70, 180),
    "Sky Blue": (120, 180, 230),
    "Teal": (20, 128, 128),
    "Turquoise": (48, 190, 190),
    "Green": (46, 140, 70),
    "Lime": (160, 210, 60),
    "Olive": (110, 118, 60),
    "Khaki": (176, 160, 110),
    "Sand": (214, 196, 160),
    "Brown": (120, 80, 50),
    "Tan": (190, 140, 90),
    "Red": (200, 40, 44),
    "Burgundy": (120, 30, 50),
    "Coral": (250, 120, 100),
    "Orange": (240, 130, 30),
    "Yellow": (245, 200, 40),
    "Pink": (240, 140, 180),
    "Lavender": (180, 160, 220),
    "Purple": (110, 60, 150),
    "Indigo": (45, 55, 100),
    "Light Wash": (130, 160, 195),
}
BRIGHT = ("Black", "White", "Grey", "Navy", "Blue", "Sky Blue", "Teal", "Turquoise", "Lime")
BRIGHT += ("Red", "Coral", "Orange", "Yellow", "Pink", "Lavender", "Purple")
OUTDOOR = ("Black", "Charcoal", "Grey", "Navy", "Olive", "Khaki", "Sand", "Brown", "Tan", "Green")
OUTDOOR += ("Red", "Orange", "Teal", "Blue", "Burgundy")
CLASSIC = ("Black", "White", "Grey", "Charcoal", "Navy", "Burgundy", "Olive", "Sand", "Brown")
CLASSIC += ("Blue", "Green", "Red", "Pink", "Lavender")
DENIM = ("Indigo", "Light Wash", "Black", "Charcoal", "Sky Blue")

SHOE_WEIGHT = 1.0  # every kind of shoe gets the same share, so no kind dominates "shoe"
ACCESSORY_WEIGHT = 0.6


@dataclass(frozen=True)
class Category:
    label: str  # the catalog's `category`, e.g. "running shoes"
    activity: str
    code: str  # the SKU prefix, e.g. "RUN-SHO"
    nouns: tuple[str, ...]  # what the name calls one item, e.g. ("Running Shoe",)
    family: str  # the silhouette drawn for it, see images.py
    audiences: tuple[tuple[str, float], ...]
    adjectives: tuple[str, ...]
    prices: tuple[int, int]
    colors: tuple[str, ...] = BRIGHT
    weight: float = 1.0  # share of the catalog
    browse: float = 1.0  # how often a shopper with this activity in mind looks at it


ADULTS = (("men", 1.0), ("women", 1.0))
FAMILY = (("men", 1.0), ("women", 1.0), ("kids", 0.5))
WOMEN = (("women", 1.0),)
ANYONE = (("unisex", 1.0), ("kids", 0.3))

# fmt: off
CATEGORIES: tuple[Category, ...] = (
    # running
    Category(
        "running shoes", "running", "RUN-SHO", ("Running Shoe",), "shoe", FAMILY,
        ("Lightweight", "Cushioned", "Responsive", "Stability", "Breathable", "Neutral",
         "Racing", "Max-Cushion"),
        (80, 180), weight=SHOE_WEIGHT, browse=2.5,
    ),
    Category(
        "running shorts", "running", "RUN-SHT", ("Running Shorts",), "shorts", FAMILY,
        ("Lightweight", "Breathable", "2-in-1", "Split-Hem", "Lined", "Quick-Dry"), (25, 60),
    ),
    Category(
        "running jackets", "running", "RUN-JKT", ("Running Jacket",), "jacket", ADULTS,
        ("Windproof", "Packable", "Reflective", "Water-Resistant", "Lightweight", "Thermal"),
        (60, 160), browse=1.2,
    ),
    Category(
        "running tights", "running", "RUN-TGT", ("Running Tights",), "leggings", ADULTS,
        ("Thermal", "Compression", "Seamless", "Reflective", "High-Waisted", "Lightweight"),
        (40, 90),
    ),
    Category(
        "running tees", "running", "RUN-TEE", ("Running Tee",), "tee", FAMILY,
        ("Breathable", "Lightweight", "Seamless", "Quick-Dry", "Mesh", "Reflective"), (25, 55),
    ),
    Category(
        "running socks", "running", "RUN-SCK", ("Running Socks",), "sock", ANYONE,
        ("Cushioned", "Low-Cut", "Merino", "Compression", "Blister-Free", "Quarter"), (12, 25),
        weight=ACCESSORY_WEIGHT, browse=0.6,
    ),
    # trail running
    Category(
        "trail running shoes", "trail running", "TRL-SHO", ("Trail Running Shoe",), "trail_shoe",
        FAMILY,
        ("Rugged", "Waterproof", "Cushioned", "Lightweight", "All-Terrain", "Grippy"),
        (90, 170), OUTDOOR, weight=SHOE_WEIGHT, browse=2.5,
    ),
    Category(
        "trail running vests", "trail running", "TRL-VST", ("Trail Running Vest",), "vest",
        ANYONE, ("Lightweight", "5L", "10L", "Race", "Hydration"), (60, 140), OUTDOOR,
        weight=ACCESSORY_WEIGHT,
    ),
    # hiking
    Category(
        "hiking boots", "hiking", "HIK-BOT", ("Hiking Boot",), "boot", FAMILY,
        ("Waterproof", "Leather", "Insulated", "Mid-Cut", "Backpacking", "Lightweight"),
        (120, 260), OUTDOOR, weight=SHOE_WEIGHT, browse=2.5,
    ),
    Category(
        "hiking shoes", "hiking", "HIK-SHO", ("Hiking Shoe",), "trail_shoe", FAMILY,
        ("Waterproof", "Breathable", "Lightweight", "Rugged", "Vented", "Approach"),
        (80, 160), OUTDOOR, weight=SHOE_WEIGHT, browse=2.0,
    ),
    Category(
        "hiking pants", "hiking", "HIK-PNT", ("Hiking Pants",), "trousers", FAMILY,
        ("Convertible", "Stretch", "Water-Repellent", "Quick-Dry", "Ripstop", "Lined"),
        (50, 110), OUTDOOR,
    ),
    Category(
        "fleece jackets", "hiking", "HIK-FLC", ("Fleece Jacket",), "fleece", FAMILY,
        ("Full-Zip", "Half-Zip", "Sherpa", "Grid", "Warm", "Lightweight"), (40, 120), OUTDOOR,
        browse=1.2,
    ),
    Category(
        "rain jackets", "hiking", "HIK-RJK", ("Rain Jacket",), "rain_jacket", FAMILY,
        ("Waterproof", "Packable", "3-Layer", "Breathable", "Insulated", "Lightweight"),
        (70, 260), OUTDOOR, browse=1.2,
    ),
    Category(
        "backpacks", "hiking", "HIK-BPK", ("Hiking Backpack", "Daypack"), "backpack", ANYONE,
        ("20L", "30L", "45L", "Lightweight", "Ventilated", "Waterproof"), (50, 200), OUTDOOR,
    ),
    # yoga
    Category(
        "yoga pants", "yoga", "YOG-PNT", ("Yoga Pants", "Yoga Leggings"), "leggings",
        (("women", 1.0), ("men", 0.25)),
        ("High-Waisted", "Seamless", "Ribbed", "Flared", "Soft", "Cropped"), (40, 100),
        browse=1.5,
    ),
    Category(
        "sports bras", "yoga", "YOG-BRA", ("Sports Bra",), "bra", WOMEN,
        ("Medium-Support", "High-Support", "Low-Support", "Seamless", "Racerback", "Padded"),
        (25, 70),
    ),
    Category(
        "yoga tops", "yoga", "YOG-TOP", ("Yoga Top", "Yoga Tank"), "tank",
        (("women", 1.0), ("men", 0.3)),
        ("Cropped", "Relaxed", "Ribbed", "Soft", "Twist-Back", "Seamless"), (25, 60),
    ),
    Category(
        "yoga mats", "yoga", "YOG-MAT", ("Yoga Mat",), "mat", (("unisex", 1.0),),
        ("Non-Slip", "Cork", "Travel", "Extra-Thick", "Natural Rubber"), (30, 110),
        weight=ACCESSORY_WEIGHT,
    ),
    # swimming
    Category(
        "swimsuits", "swimming", "SWM-SUI", ("Swimsuit",), "swimsuit",
        (("women", 1.0), ("kids", 0.5)),
        ("Chlorine-Resistant", "Racerback", "Training", "Cross-Back", "Sporty"), (30, 90),
        browse=1.5,
    ),
    Category(
        "swim trunks", "swimming", "SWM-TRK", ("Swim Trunks", "Swim Jammers"), "trunks",
        (("men", 1.0), ("kids", 0.5)),
        ("Quick-Dry", "Chlorine-Resistant", "Training", "Board", "Stretch"), (20, 60),
        browse=1.5,
    ),
    Category(
        "swim caps", "swimming", "SWM-CAP", ("Swim Cap",), "swim_cap", ANYONE,
        ("Silicone", "Long-Hair", "Racing", "Latex"), (8, 20), weight=ACCESSORY_WEIGHT,
    ),
    Category(
        "swim goggles", "swimming", "SWM-GOG", ("Swim Goggles",), "goggles", ANYONE,
        ("Anti-Fog", "Mirrored", "Racing", "Wide-View", "Polarized"), (15, 45),
        weight=ACCESSORY_WEIGHT,
    ),
    # training
    Category(
        "training shoes", "training", "TRN-SHO", ("Training Shoe",), "shoe", ADULTS,
        ("Stable", "Versatile", "Flexible", "Lightweight", "Breathable", "Lifting"),
        (70, 140), weight=SHOE_WEIGHT, browse=2.0,
    ),
    Category(
        "training shorts", "training", "TRN-SHT", ("Training Shorts",), "shorts", ADULTS,
        ("Stretch", "Lightweight", "Mesh", "Lined", "Quick-Dry"), (25, 55),
    ),
    Category(
        "tank tops", "training", "TRN-TNK", ("Training Tank Top",), "tank", ADULTS,
        ("Muscle", "Breathable", "Mesh", "Seamless", "Quick-Dry"), (20, 45),
    ),
    Category(
        "gym bags", "training", "TRN-BAG", ("Gym Bag", "Duffel Bag"), "duffel", (("unisex", 1.0),),
        ("Compact", "Large", "Water-Resistant", "Convertible"), (30, 90), CLASSIC,
        weight=ACCESSORY_WEIGHT,
    ),
    # cycling
    Category(
        "cycling shoes", "cycling", "CYC-SHO", ("Cycling Shoe",), "cycling_shoe", ADULTS,
        ("Road", "Mountain Bike", "Indoor", "Carbon-Sole", "Ventilated", "Clipless"),
        (90, 300), weight=SHOE_WEIGHT, browse=2.0,
    ),
    Category(
        "cycling jerseys", "cycling", "CYC-JRS", ("Cycling Jersey",), "jersey", ADULTS,
        ("Aero", "Lightweight", "Full-Zip", "Breathable", "Thermal", "Climbing"), (50, 140),
    ),
    Category(
        "cycling shorts", "cycling", "CYC-SHT", ("Cycling Bib Shorts", "Cycling Shorts"),
        "bike_shorts", ADULTS, ("Padded", "Compression", "Endurance", "Thermal", "Aero"),
        (50, 180),
    ),
    # skiing
    Category(
        "ski jackets", "skiing", "SKI-JKT", ("Ski Jacket",), "ski_jacket", FAMILY,
        ("Insulated", "Waterproof", "3-in-1", "Shell", "Down", "Hooded"), (120, 400), OUTDOOR,
        browse=1.5,
    ),
    Category(
        "ski pants", "skiing", "SKI-PNT", ("Ski Pants", "Ski Bib Pants"), "trousers", FAMILY,
        ("Insulated", "Waterproof", "Shell", "Stretch", "Reinforced"), (90, 260), OUTDOOR,
    ),
    Category(
        "base layers", "skiing", "SKI-BAS", ("Base Layer Top",), "longsleeve", FAMILY,
        ("Merino", "Thermal", "Midweight", "Lightweight", "Seamless"), (35, 110), OUTDOOR,
    ),
    Category(
        "ski boots", "skiing", "SKI-BOT", ("Ski Boot",), "ski_boot", FAMILY,
        ("All-Mountain", "Freeride", "Comfort-Fit", "Heat-Moldable", "Touring"), (200, 550),
        OUTDOOR, weight=SHOE_WEIGHT, browse=1.5,
    ),
    Category(
        "beanies", "skiing", "SKI-BNE", ("Beanie",), "beanie", ANYONE,
        ("Merino", "Pom-Pom", "Ribbed", "Fleece-Lined", "Cuffed"), (15, 40), OUTDOOR,
        weight=ACCESSORY_WEIGHT,
    ),
    # tennis
    Category(
        "tennis shoes", "tennis", "TEN-SHO", ("Tennis Shoe",), "shoe", FAMILY,
        ("Clay Court", "All-Court", "Durable", "Lightweight", "Cushioned", "Stable"),
        (70, 150), weight=SHOE_WEIGHT, browse=2.0,
    ),
    Category(
        "tennis skirts", "tennis", "TEN-SKT", ("Tennis Skirt",), "skirt",
        (("women", 1.0), ("kids", 0.4)),
        ("Pleated", "Flared", "Lined", "Stretch", "Classic"), (30, 70),
    ),
    Category(
        "tennis polos", "tennis", "TEN-POL", ("Tennis Polo",), "polo", FAMILY,
        ("Classic", "Breathable", "Slim-Fit", "Striped", "Quick-Dry"), (30, 80),
    ),
    # basketball
    Category(
        "basketball shoes", "basketball", "BBL-SHO", ("Basketball Shoe",), "high_top", FAMILY,
        ("High-Top", "Low-Top", "Cushioned", "Responsive", "Supportive", "Signature"),
        (90, 200), weight=SHOE_WEIGHT, browse=2.5,
    ),
    Category(
        "basketball shorts", "basketball", "BBL-SHT", ("Basketball Shorts",), "shorts",
        (("men", 1.0), ("kids", 0.6), ("women", 0.4)),
        ("Mesh", "Classic", "Breathable", "Long", "Reversible"), (25, 55),
    ),
    Category(
        "basketball jerseys", "basketball", "BBL-JRS", ("Basketball Jersey",), "tank",
        (("men", 1.0), ("kids", 0.6), ("women", 0.4)),
        ("Mesh", "Reversible", "Classic", "Breathable"), (30, 90),
    ),
    # lifestyle
    Category(
        "sneakers", "lifestyle", "LIF-SNK", ("Sneaker",), "sneaker", FAMILY,
        ("Leather", "Canvas", "Retro", "Classic", "Suede", "Platform"), (60, 140), CLASSIC,
        weight=SHOE_WEIGHT, browse=2.5,
    ),
    Category(
        "sandals", "lifestyle", "LIF-SAN", ("Sandal", "Slide"), "sandal", FAMILY,
        ("Sport", "Cushioned", "Strappy", "Adventure", "Recovery"), (25, 110), OUTDOOR,
        weight=SHOE_WEIGHT, browse=1.5,
    ),
    Category(
        "casual tees", "lifestyle", "LIF-TEE", ("Crew Neck Tee", "Graphic Tee", "Pocket Tee"),
        "tee", FAMILY, ("Organic Cotton", "Relaxed", "Slim-Fit", "Heavyweight", "Vintage"),
        (15, 40), CLASSIC,
    ),
    Category(
        "hoodies", "lifestyle", "LIF-HOD", ("Hoodie", "Zip Hoodie"), "hoodie", FAMILY,
        ("Fleece", "Oversized", "Heavyweight", "Organic Cotton", "Relaxed"), (40, 90), CLASSIC,
    ),
    Category(
        "jeans", "lifestyle", "LIF-JNS", ("Jeans",), "trousers", FAMILY,
        ("Slim", "Straight", "Relaxed", "Tapered", "Bootcut", "Stretch"), (40, 120), DENIM,
    ),
    Category(
        "casual jackets", "lifestyle", "LIF-JKT",
        ("Denim Jacket", "Bomber Jacket", "Puffer Jacket", "Coach Jacket"), "jacket", FAMILY,
        ("Classic", "Oversized", "Cropped", "Lined", "Recycled"), (60, 180), CLASSIC,
    ),
    Category(
        "caps", "lifestyle", "LIF-CAP", ("Baseball Cap", "Trucker Cap"), "cap",
        ANYONE, ("Adjustable", "Classic", "Lightweight", "Curved-Brim", "Washed"), (15, 35),
        weight=ACCESSORY_WEIGHT,
    ),
)
# fmt: on
CATEGORY_BY_LABEL = {category.label: category for category in CATEGORIES}
ACTIVITIES = tuple(dict.fromkeys(category.activity for category in CATEGORIES))


@dataclass(frozen=True)
class SampleProduct:
    sku: str
    name: str
    target: str
    category: str
    activity: str
    color: str
    price: str

    @property
    def image(self) -> str:
        return f"images/{self.sku}.png"

    def row(self, *, images: bool = True) -> tuple[str, ...]:
        image = self.image if images else ""
        return (
            self.sku,
            self.name,
            self.target,
            image,
            self.category,
            self.activity,
            self.color,
            self.price,
        )


def products_generate(count: int, *, seed: int = 42) -> list[SampleProduct]:
    """`count` products spread over every category by weight, sorted by SKU; same seed, same list.

    Names are kept distinct while the category has unused combinations, so small catalogs read
    naturally; very large ones (benchmarks) repeat names but never SKUs.
    """
    rng = random.Random(f"products:{seed}")
    products: list[SampleProduct] = []
    for category, size in zip(CATEGORIES, _category_sizes(count), strict=True):
        audiences = [name for name, _ in category.audiences]
        weights = [weight for _, weight in category.audiences]
        combinations = len(audiences) * len(category.nouns)
        combinations *= len(category.adjectives) * len(category.colors)
        seen: set[str] = set()
        for number in range(1, size + 1):
            # Retrying only pays while most combinations are unused.
            for _attempt in range(8 if len(seen) < combinations * 0.7 else 1):
                target = rng.choices(audiences, weights)[0]
                noun = rng.choice(category.nouns)
                adjective = rng.choice(category.adjectives)
                color = rng.choice(category.colors)
                name = f"{AUDIENCE_PREFIX[target]}{adjective} {noun}, {color}"
                if name not in seen:
                    break
            seen.add(name)
            low, high = category.prices
            price = rng.randint(low, high) * (KIDS_PRICE_FACTOR if target == "kids" else 1.0)
            products.append(
                SampleProduct(
                    sku=f"{category.code}-{number:04d}",
                    name=name,
                    target=target,
                    category=category.label,
                    activity=category.activity,
                    color=color,
                    price=f"{max(int(price), 4) + rng.choice((0.95, 0.99, 0.5)):.2f}",
                )
            )
    products.sort(key=lambda product: product.sku)
    return products


def _category_sizes(count: int) -> list[int]:
    """Split `count` over the categories by weight (largest remainders), at least one each."""
    if count < 0:
        raise ValueError("the product count cannot be negative")
    total = sum(category.weight for category in CATEGORIES)
    shares = [count * category.weight / total for category in CATEGORIES]
    sizes = [int(share) for share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: (sizes[i] - shares[i], i))
    for index in by_remainder[: count - sum(sizes)]:
        sizes[index] += 1
    if count >= len(CATEGORIES):
        for index, size in enumerate(sizes):
            if size == 0:  # take it from the largest category; ties go to the first
                sizes[sizes.index(max(sizes))] -= 1
                sizes[index] = 1
    return sizes


@dataclass(frozen=True)
class AudienceAnalogy:
    """ "<A>'s X is to <B>'s X as <A>'s Y is to ?", as a shopper would type it, answered right
    by a Y for audience B: what the product explorer should find in the sample shop."""

    a: str  # "Men's Running Shoe"
    b: str  # "Women's Running Shoe"
    c: str  # "Men's Rain Jacket"
    category: str  # Y, the right answer's category
    target: str  # B, the right answer's audience
    same_activity: bool  # whether X and Y belong to one activity


def audience_analogies(kinds: Iterable[tuple[str, str]]) -> list[AudienceAnalogy]:
    """Every men-to-women and women-to-men analogy between two categories of the sample
    assortment that both have products for men and for women among `kinds` ((category,
    target) pairs of a catalog), each category named as its products are."""
    present = set(kinds)
    labels = [
        category.label
        for category in CATEGORIES
        if (category.label, "men") in present and (category.label, "women") in present
    ]
    analogies = []
    for x in labels:
        for y in labels:
            if x == y:
                continue
            for first, second in (("men", "women"), ("women", "men")):
                a, b, c = (
                    AUDIENCE_PREFIX[audience] + CATEGORY_BY_LABEL[label].nouns[0]
                    for audience, label in ((first, x), (second, x), (first, y))
                )
                same = CATEGORY_BY_LABEL[x].activity == CATEGORY_BY_LABEL[y].activity
                analogies.append(AudienceAnalogy(a, b, c, y, second, same))
    return analogies


def catalog_csv_write(path: Path, products: Iterable[SampleProduct], *, images: bool = True) -> int:
    """Write `catalog.csv` (UTF-8, header first, quoted where needed); return the row count.

    Without `images` the `image` column is empty, for catalogs whose pictures are not drawn.
    """
    rows = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CATALOG_COLUMNS)
        for product in products:
            writer.writerow(product.row(images=images))
            rows += 1
    return rows
