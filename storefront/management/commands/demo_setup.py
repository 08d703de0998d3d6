"""`manage.py demo_setup`: what `make demo` runs before serving the shop, with one progress
line for the whole first run (stage, its own count, the time left)."""

import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from common.progress import StagedEstimate
from storefront.demo import demo_prepare, demo_stages, stage_costs, stage_timings_record


class Command(BaseCommand):
    help = "Migrate, then generate, load, train and index the sample shop where it is missing."

    def add_arguments(self, parser):
        parser.add_argument(
            "--sample-dir", type=Path, default=None, help="default: <CIS_DATA_DIR>/sample"
        )
        parser.add_argument("--products", type=int, default=2000, help="a new sample's size")
        parser.add_argument("--sessions", type=int, default=50000, help="a new sample's sessions")

    def handle(self, *args, sample_dir: Path | None, products: int, sessions: int, **options):
        call_command("migrate", interactive=False, verbosity=0)
        sample_dir = sample_dir or settings.DATA_DIR / "sample"
        stages = demo_stages(sample_dir)
        line = ProgressLine(self.stdout, live=self.stdout.isatty())
        if len(stages) > 1 and products == 2000 and sessions == 50000:
            self.stdout.write(
                "First run: generating, loading and training the sample shop "
                "(about a minute on 2 cores; later runs start in seconds)."
            )
        costs = stage_costs(stages, data_dir=settings.DATA_DIR)
        estimate = StagedEstimate(costs, on_change=line.draw)
        demo_prepare(
            sample_dir, say=line.say, progress=estimate, products=products, sessions=sessions
        )
        estimate.finish()
        if products == 2000 and sessions == 50000:  # the default sample's costs
            stage_timings_record(estimate.timings, data_dir=settings.DATA_DIR)
        line.done(estimate)
        line.say(f"The demo shop is ready ({estimate.elapsed:.0f} s).")
        if options["verbosity"] > 1:
            self.stdout.write(f"seconds per stage: {estimate.timings}")


class ProgressLine:
    """Draws a StagedEstimate: on a terminal one line redrawn in place, elsewhere (a log) a
    line when a stage begins and every 10 s."""

    def __init__(self, out, *, live: bool):
        self.out, self.live = out, live
        self.drawn_at, self.drawn_stage, self.width = 0.0, None, 0

    def draw(self, estimate: StagedEstimate) -> None:
        stage = estimate.stage
        now = time.monotonic()
        changed = stage is not None and stage.name != self.drawn_stage
        if not changed and now - self.drawn_at < (0.2 if self.live else 10):
            return
        self.drawn_at, self.drawn_stage = now, stage.name if stage else None
        text = f"{100 * estimate.fraction:3.0f}% {stage.name if stage else ''}"
        if stage is not None and stage.total and stage.name in ("training", "drawing the map"):
            unit = "epochs" if stage.name == "training" else "iterations"
            text += f" {stage.done:.0f}/{stage.total:.0f} {unit}"
        left = estimate.seconds_left
        if left is not None:
            text += f", about {_duration(left)} left"
        if self.live:
            self.out.write("\r" + text.ljust(self.width), ending="")
            self.width = len(text)
            self.out.flush()
        else:
            self.out.write(text)

    def done(self, estimate: StagedEstimate) -> None:
        """In a log, the last line: where the estimate ends (the terminal's line gives way to
        the next message)."""
        if not self.live:
            self.out.write(f"{100 * estimate.fraction:3.0f}% done")

    def say(self, message: str) -> None:
        if self.live and self.width:
            self.out.write("\r" + " " * self.width + "\r", ending="")
            self.width = 0
        self.out.write(message)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(5, round(seconds / 5) * 5):.0f} s"
    return f"{seconds / 60:.0f} min"
