"""storefront.demo: what `make demo` prepares beyond the sample shop (the word explorer's model)."""

import pytest
from django.test import Client

from personalization.models import EmbeddingVersion
from storefront.demo import demo_words_prepare


@pytest.mark.django_db
def test_the_demo_trains_a_word_model_once_and_the_word_explorer_answers(models_dir, settings):
    settings.CIS_MODEL_CHECK_SECONDS = 0
    said = []
    demo_words_prepare(say=said.append)
    demo_words_prepare(say=said.append)  # a second `make demo` keeps the first
    versions = EmbeddingVersion.objects.filter(kind=EmbeddingVersion.Kind.WORD)
    assert versions.count() == 1 and versions.get().is_active
    assert len(said) == 1 and "Trained word vectors" in said[0]
    assert versions.get().vocabulary > 2000 and versions.get().metrics["wordsim353"]

    page = Client().get("/space/explore/", {"kind": "word", "of": "president"}).content.decode()
    assert "learned from 58,157 words of lee_background.cor" in page
    assert "Nearest to “president”" in page and "<strong>bush</strong>" in page
