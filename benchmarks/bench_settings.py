"""The shop's settings (from the environment, as always) serving benchmarks/bench_urls.py.

Select with DJANGO_SETTINGS_MODULE=benchmarks.bench_settings and /work/main (the project root)
on the path, as `gunicorn --chdir` does.
"""

import os

from storefront.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
# A benchmark measures one order unless it draws visitors into an experiment itself.
if "CIS_INTERLEAVING_SHARE" not in os.environ:
    CIS_INTERLEAVING_SHARE = 0
