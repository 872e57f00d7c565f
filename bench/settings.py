"""Settings of the load test's server (bench/load.py): the production settings plus one bare view.

Everything comes from `igo.settings` (the same environment variables, middleware, cache, sessions and
database options); only the URL configuration differs, so that a view that does nothing can be measured
on the same server as the framework's ceiling. Never used outside the benchmark.
"""

from igo.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
