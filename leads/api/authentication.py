"""Lead sources authenticate with their own API key."""

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from leads.feedback.tokens import api_token_authenticate, is_manager
from leads.models import ApiToken, LeadSource
from leads.sources import source_for_api_key


@dataclass(frozen=True)
class SourceClient:
    """The caller of the API: a lead source, standing where DRF expects a user."""

    source: LeadSource
    is_authenticated: bool = True


def presented_api_key(request) -> str:
    """Return the API key a request carries, or \"\"."""
    # From META, as DRF's get_authorization_header would read it, without building the
    # request's whole header mapping on intake's hot path.
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    return request.META.get("HTTP_X_API_KEY", "").strip()


class SourceKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`."""

    def authenticate(self, request):
        key = presented_api_key(request)
        if not key:
            return None
        source = source_for_api_key(key)
        if source is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        return SourceClient(source), key

    def authenticate_header(self, request):
        return 'Bearer realm="leadline"'


class IsActiveSource(permissions.BasePermission):
    message = "This source is paused; its leads are refused. Contact the buyer."

    def has_permission(self, request, view):
        client = request.user
        if not isinstance(client, SourceClient):
            raise exceptions.NotAuthenticated("Send your API key as Authorization: Bearer <key>.")
        return client.source.is_active


class SourceKeyScheme(OpenApiAuthenticationExtension):
    target_class = "leads.api.authentication.SourceKeyAuthentication"
    name = "SourceKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The API key given to your source (also accepted as X-API-Key).",
        }


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <token>`: the business's own systems, acting for a manager."""

    keyword = "token"

    def authenticate(self, request):
        scheme, _, key = authentication.get_authorization_header(request).partition(b" ")
        if scheme.lower() != self.keyword.encode():
            return None
        try:
            key = key.decode().strip()
        except UnicodeDecodeError as error:
            raise exceptions.AuthenticationFailed("Unknown or revoked API token.") from error
        token = api_token_authenticate(key)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Unknown or revoked API token.")
        return token.user, token

    def authenticate_header(self, request):
        return 'Token realm="leadline"'


class IsManagerToken(permissions.BasePermission):
    """Only an API token made for a manager; a person's session or a source's key is
    refused (403), nobody signed in at all is asked to authenticate (401)."""

    message = "This endpoint takes an API token (Authorization: Token <token>) made for a manager."

    def has_permission(self, request, view):
        if request.user is None:
            raise exceptions.NotAuthenticated("Send Authorization: Token <token>.")
        return isinstance(request.auth, ApiToken) and is_manager(request.user)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "leads.api.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "For the business's own systems: `Token <token>`, made by "
            "`manage.py create_api_token <manager>`.",
        }
