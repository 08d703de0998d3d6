"""`manage.py export_projector OUTDIR [--version V]`: vectors.tsv and meta.tsv for the
TensorBoard Embedding Projector (projector.tensorflow.org, "Load")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from personalization.models import EmbeddingVersion
from personalization.space import SpaceUnavailable, projector_export


class Command(BaseCommand):
    help = "Write a model version's vectors and metadata for the TensorBoard Embedding Projector."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version here is a model version, as the seed named it, not Django's own --version.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("outdir", type=Path)
        parser.add_argument("--version", type=int, help="a version id (default: the active one)")

    def handle(self, *args, outdir: Path, version: int | None, **options):
        chosen = None
        if version is not None:
            chosen = EmbeddingVersion.objects.filter(pk=version).first()
            if chosen is None:
                raise CommandError(f"no model version {version}")
        with tqdm(unit=" vectors", desc="export", disable=None, leave=False) as bar:
            try:
                done = projector_export(outdir, version=chosen, progress=bar)
            except SpaceUnavailable as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{outdir}: vectors.tsv and meta.tsv, {done.rows} {done.kind} vectors of "
            f"{done.dimensions} dimensions from v{done.version_id}; load both at "
            "https://projector.tensorflow.org"
        )
