"""Settings of the plain Django reference of the page benchmark (bench/pages.py): Django 5.2 as its project
template would have it minus everything, no app, no middleware, no database, one view returning "hello".

Served by its own gunicorn with the repository's gunicorn.conf.py (the same workers and threads as the portal):
what a request costs Django and gunicorn alone, the limit no page of the portal can pass.
"""

import os

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.hello_urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict] = {}
USE_TZ = True
UPLOAD_MAX_BYTES = 10 * 1024 * 1024  # read by gunicorn.conf.py's pre_request hook (common.uploads)
