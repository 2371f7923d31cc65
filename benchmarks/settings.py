"""Settings of the benchmark server: Tutela's own, with the benchmark endpoints added.

The benchmark URLconf serves every Tutela page plus the floor endpoints in benchmarks/views.py;
nothing else differs from a production configuration.
"""

from tutela.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
DEBUG = False
