"""`manage.py demo_serve [ADDRESS]`: what `make demo` runs after `demo_setup`: the development
server and, beside it, a Celery worker (with beat) on kombu's filesystem broker under
CIS_DATA_DIR, so that "Retrain" in the admin returns at once and the panel follows the epochs.
Ctrl-C stops both."""

import os
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

BROKER = "filesystem://localhost/"  # a host named, or kombu warns that none was


class Command(BaseCommand):
    help = "Serve the demo shop with a background Celery worker on a filesystem broker."

    def add_arguments(self, parser):
        parser.add_argument("address", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, address: str, **options):
        env = {**os.environ, "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL") or BROKER}
        log = settings.DATA_DIR / "worker.log"
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        worker_command = [
            sys.executable, "-m", "celery", "-A", "storefront", "worker", "--beat",
            "--pool=solo", "--without-gossip", "--without-mingle", "--loglevel=INFO",
            f"--schedule={settings.DATA_DIR / 'celerybeat-schedule'}",
        ]  # fmt: skip
        with log.open("a") as output:
            worker = subprocess.Popen(
                worker_command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=output
            )
        self.stdout.write(
            f"A Celery worker trains in the background (broker: {env['CELERY_BROKER_URL']}; "
            f"its log: {log})."
        )
        server = subprocess.Popen([*manage, "runserver", address], env=env)
        try:
            while server.poll() is None:
                if worker is not None and worker.poll() is not None:
                    self.stderr.write(
                        f"The background worker stopped (exit {worker.returncode}; see {log}): "
                        "retraining from the admin will wait for one."
                    )
                    worker = None
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in (server, worker):
                if process is not None and process.poll() is None:
                    process.terminate()
            for process in (server, worker):
                if process is not None:
                    try:
                        process.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        process.kill()
        return None
