"""The event log of product views that training reads: live views and imported sessions."""

from django.db import models

from .engine.sessions_file import SESSION_ID_MAX, SKU_MAX

LIVE_SOURCE = "live"


class ViewEvent(models.Model):
    """One product view. A session is all events sharing (source, session_id), ordered by id.

    `session_id` is a keyed hash of the Django session key for live views (the key itself is a
    credential and must not end up in an export), and the file's session id for imports.
    `sku` is not a foreign key: imported benchmark logs may name items outside the catalog, and
    the log outlives products removed from it.
    """

    source = models.CharField(max_length=100, default=LIVE_SOURCE)
    session_id = models.CharField(max_length=SESSION_ID_MAX)
    sku = models.CharField(max_length=SKU_MAX)
    viewed_at = models.DateTimeField()
    # The id the shop gave a live view (see events.product_view_track): one row per view, however
    # often the drain repeats it (a drainer that died before acknowledging) or a write straight
    # to the log doubles it (Redis timed out, then ran the view after all). NULL for imports (not
    # "": they insert raw rows without this column, and only non-NULL ids must be unique).
    event_id = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001

    class Meta:
        indexes = [
            models.Index(fields=["source", "session_id", "id"], name="event_session_order"),
            models.Index(fields=["sku"], name="event_sku"),
            # A training window (CIS_TRAINING_WINDOW) reads the recent views only.
            models.Index(fields=["viewed_at"], name="event_viewed_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id"],
                condition=models.Q(event_id__isnull=False),
                name="event_id_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.session_id} viewed {self.sku}"


def live_view_log(visitor_id: str, sku: str, viewed_at, event_id: str | None) -> ViewEvent:
    """Write one live view to the log (the shop's own write: no stream in between)."""
    return ViewEvent.objects.create(
        source=LIVE_SOURCE, session_id=visitor_id, sku=sku, viewed_at=viewed_at, event_id=event_id
    )


class VisitorViews(models.Model):
    """A visitor's state when it lives in the database (CIS_VISITOR_STORE=database): the last
    products they viewed, oldest first. See personalization.state."""

    visitor_id = models.CharField(max_length=32, primary_key=True)
    skus = models.TextField(help_text="SKUs separated by TABs, oldest first")
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "visitor views"

    def __str__(self) -> str:
        return f"visitor {self.visitor_id[:8]}: {self.skus.count(chr(9)) + 1} views"


class EmbeddingVersion(models.Model):
    """One training of embeddings: its parameters, counts, evaluation, status and files.

    Exactly one succeeded version per kind is active (serves); at most one per kind is queued
    or running at a time. Both rules are database constraints, so no race can break them.
    """

    class Kind(models.TextChoices):
        PRODUCT = "product", "product embeddings (prod2vec)"
        WORD = "word", "word embeddings"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PRODUCT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    is_active = models.BooleanField(default=False)
    params = models.JSONField(default=dict, help_text="Word2Vec hyperparameters")
    recommender_config = models.JSONField(default=dict, blank=True)
    holdout_share = models.FloatField(default=0.0)
    window_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="trained on the views of the last N days (empty: all)"
    )
    window_since = models.DateTimeField(
        null=True, blank=True, help_text="the window's start: views from then on were read"
    )
    corpus = models.CharField(max_length=1024, blank=True, help_text="a word model's text file")
    max_sentences = models.PositiveIntegerField(null=True, blank=True)
    triggered_by = models.CharField(max_length=150, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="the Celery worker training it")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    phase = models.CharField(max_length=32, blank=True, help_text="what a running training does")
    phase_started_at = models.DateTimeField(null=True, blank=True)
    step = models.PositiveIntegerField(default=0, help_text="steps of the phase done")
    steps = models.PositiveIntegerField(default=0, help_text="the phase's steps (0: not counted)")
    epoch = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=0)
    losses = models.JSONField(default=list, blank=True, help_text="training loss per epoch")
    sessions = models.PositiveIntegerField(default=0, help_text="training sessions (sentences)")
    events = models.PositiveIntegerField(default=0, help_text="training events (words)")
    holdout_sessions = models.PositiveIntegerField(default=0)
    vocabulary = models.PositiveIntegerField(default=0, help_text="items (words) with a vector")
    training_seconds = models.FloatField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="seconds spent in each phase")
    metrics = models.JSONField(
        default=dict, blank=True, help_text="method -> {hr, mrr, predictions, k} on the holdout"
    )
    activation = models.JSONField(
        default=dict, blank=True, help_text="whether training activated it, by which rule"
    )
    error = models.TextField(blank=True)
    path = models.CharField(max_length=255, blank=True, help_text="folder under the models dir")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(is_active=True), name="one_active_per_kind"
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_training_at_a_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.pk} ({self.status}{', active' if self.is_active else ''})"

    @property
    def headline(self) -> dict | None:
        """The shop's default recommender's metrics on the holdout, if evaluated."""
        return self.metrics.get("default")


class SearchImpression(models.Model):
    """A page of search results shown to a visitor (HTML or API), as the experiments count it:
    which list was shown, how it was ranked, and for an interleaved list the team of each
    position. Written by the stream's drain (or straight, without Redis), like views."""

    class Arm(models.TextChoices):
        PERSONALIZED = "personalized", "personalized"  # outside any experiment
        PLAIN = "plain", "plain"  # outside any experiment: the visitor's choice, or no views
        INTERLEAVED = "interleaved", "interleaving: plain and personalized, team draft"
        AB_PERSONALIZED = "ab_personalized", "A/B: the personalized arm"
        AB_PLAIN = "ab_plain", "A/B: the plain arm"

    impression_id = models.CharField(max_length=32, unique=True)  # the shop's, in links
    visitor_id = models.CharField(max_length=32)
    query = models.CharField(max_length=200)
    page = models.PositiveIntegerField(default=1)
    arm = models.CharField(max_length=16, choices=Arm.choices)
    skus = models.TextField(help_text="the SKUs shown, in order, separated by TABs")
    # One letter a position (engine.interleaving: P personalized, B plain) for an interleaved
    # list whose two orders differed on the page; "" otherwise (nothing to credit).
    teams = models.CharField(max_length=100, blank=True)
    shown_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["arm", "shown_at"], name="impression_arm_time")]
        # The admin's list of them is the experiments page.
        verbose_name_plural = "experiments: search impressions"

    def __str__(self) -> str:
        return f"{self.arm} {self.query!r} for {self.visitor_id[:8]}"


class ResultClick(models.Model):
    """A click on a search result: the impression it was shown in, its position there (from
    0) and the product. One per impression and position, however often it is clicked."""

    impression_id = models.CharField(max_length=32)
    position = models.PositiveIntegerField()
    sku = models.CharField(max_length=SKU_MAX)
    clicked_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["impression_id", "position"], name="click_once_per_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.impression_id[:8]} #{self.position} {self.sku}"
