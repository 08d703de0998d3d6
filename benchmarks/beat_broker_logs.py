"""What Celery beat logs while its broker hangs: lines, ERRORs, WARNINGs and traceback lines.

Usage: .venv/bin/python benchmarks/beat_broker_logs.py [--hung 20] [--project DIR]
Runs `celery -A storefront beat -l INFO` of DIR (default: this checkout; `--project ../main`
measures another checkout as the baseline) with a redis-server of this script's own as its
broker (a free port, nothing persisted) and the stale-training check due every second
(CIS_TRAINING_CHECK_SECONDS=1), so that beat sends all the time. Once it has sent three tasks, the
broker hangs (SIGSTOP) for --hung seconds, then serves again (SIGCONT) for 10 s; beat is then
stopped. Prints what beat wrote during the hang and after it, counted from its output.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _shop import RedisServer  # noqa: E402


def counted(lines: list[str]) -> str:
    errors = sum(bool(re.search(r"\bERROR\b", line)) for line in lines)
    warnings = sum(bool(re.search(r"\bWARNING\b", line)) for line in lines)
    tracebacks = sum(line.startswith("Traceback (most recent call last)") for line in lines)
    return f"{len(lines)} lines: ERROR {errors}, WARNING {warnings}, tracebacks {tracebacks}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hung", type=float, default=20)
    parser.add_argument("--project", type=Path, default=ROOT)
    args = parser.parse_args()
    project = args.project.resolve()
    folder = Path(tempfile.mkdtemp(prefix="cis-bench-beat-"))
    broker = RedisServer(folder)
    log = folder / "beat.log"
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL"}} | {
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{broker.port}/1",
        "CIS_TRAINING_CHECK_SECONDS": "1",
        "CIS_DATA_DIR": str(folder),
        "PYTHONUNBUFFERED": "1",
    }
    command = [str(project / ".venv/bin/celery"), "-A", "storefront", "beat", "-l", "INFO",
               f"--schedule={folder / 'schedule'}"]  # fmt: skip
    try:
        with log.open("w") as output:
            beat = subprocess.Popen(command, cwd=project, env=env, stdout=output, stderr=output)
        try:
            deadline = time.monotonic() + 120
            while len(re.findall(r"(?i)sending due task", log.read_text())) < 3:
                if beat.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(log.read_text()[-3000:])
                time.sleep(0.2)
            hung_from = len(log.read_text().splitlines())
            broker.hang()
            time.sleep(args.hung)
            broker.resume()
            back_from = len(log.read_text().splitlines())
            time.sleep(10)
        finally:
            beat.send_signal(signal.SIGTERM)
            beat.wait(timeout=60)
        lines = log.read_text().splitlines()
        print(f"{project}: beat, broker hung {args.hung:g} s")
        print(f"  during the hang: {counted(lines[hung_from:back_from])}")
        print(f"  the 10 s after:  {counted(lines[back_from:])}")
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
