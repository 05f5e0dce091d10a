"""How the OpenAPI schema (/api/schema/) describes IAM bearer tokens."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.iam.api.authentication.BearerTokenAuthentication"
    name = "iamBearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from ESCAPE IAM (e.g. `oidc-token` of oidc-agent), checked at IAM's userinfo.",
        }
