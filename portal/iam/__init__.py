"""Login with INDIGO IAM (OpenID Connect), and everything else that talks to IAM.

The outside world stays behind this package: ``provider`` reads IAM's discovery document, ``backends`` logs
users in through mozilla-django-oidc and turns IAM group claims into roles (``claims``), ``api`` accepts IAM
access tokens as bearer tokens. The rest of the portal only ever sees users, Django groups and permissions.
"""
