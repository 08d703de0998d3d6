"""Sample data for the demo shop: a seeded sports catalog, drawn product pictures and simulated
browsing sessions. `sample_data_generate` writes all three; the parts also work on their own.
"""

from .generate import SampleDataReport, sample_data_generate, sample_synonyms_install
from .images import product_image_draw, product_images_write
from .products import (
    AudienceAnalogy,
    SampleProduct,
    audience_analogies,
    catalog_csv_write,
    products_generate,
)
from .sessions import SessionsWritten, sessions_simulate, sessions_write

__all__ = [
    "AudienceAnalogy",
    "SampleDataReport",
    "SampleProduct",
    "SessionsWritten",
    "audience_analogies",
    "catalog_csv_write",
    "product_image_draw",
    "product_images_write",
    "products_generate",
    "sample_data_generate",
    "sample_synonyms_install",
    "sessions_simulate",
    "sessions_write",
]
