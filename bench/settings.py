"""Settings of the page benchmark (bench/pages.py): the production settings, DEBUG off, with two changes.

- No redirect to HTTPS: the load generator talks plain HTTP to gunicorn on loopback, where production has a
  TLS-terminating proxy in front (HSTS, secure cookies and everything else stay as in production).
- ``bench.urls``: the portal's URLs plus a bare view that does no work, the baseline every page is held
  against. It exists only here, never in the portal's own URLs.
"""

from portal.settings import *  # noqa: F403

SECURE_SSL_REDIRECT = False
ROOT_URLCONF = "bench.urls"
