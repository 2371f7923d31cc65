"""`POST /api/v1/promotions`: a production site receives a bundle pushed by a demo site."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import authentication, exceptions, parsers, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tutela.api.errors import error_body
from tutela.promotion.bundles import MAX_BUNDLE_BYTES, receive_bundle
from tutela.promotion.models import BundleStatus
from tutela.promotion.transport import AUTH_SCHEME
from tutela.sites.actions import check_link_token, site_role
from tutela.sites.models import PromotionLink


class PromotionLinkAuthentication(authentication.BaseAuthentication):
    """`Authorization: Promotion tpl_...`: the token of a promotion link."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, token = header.partition(" ")
        if keyword != AUTH_SCHEME:
            return None
        link = check_link_token(token.strip())
        if link is None:
            raise exceptions.AuthenticationFailed("The promotion token is invalid or revoked.")
        return None, link

    def authenticate_header(self, request: Request) -> str:
        return AUTH_SCHEME


class PromotionLinkScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "tutela.promotion.api.PromotionLinkAuthentication"
    name = "promotionLink"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization"}


class HasPromotionLink(permissions.BasePermission):
    message = "Send the promotion link's token: Authorization: Promotion tpl_..."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, PromotionLink)


class RawBundleParser(parsers.BaseParser):
    """Hand the body over as bytes: the bundle is checked byte for byte, truncation included."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return stream.read(MAX_BUNDLE_BYTES + 1) if stream is not None else b""


BUNDLE_ANSWER = inline_serializer(
    "PromotionReceived",
    {
        "bundle": serializers.IntegerField(),
        "status": serializers.CharField(),
        "snapshot": serializers.CharField(),
    },
)


class PromotionView(APIView):
    authentication_classes = [PromotionLinkAuthentication]
    permission_classes = [HasPromotionLink]
    parser_classes = [RawBundleParser]

    @extend_schema(
        summary="Receive a configuration snapshot from a demo site",
        description=(
            "The body is a signed bundle (`tutela config export`). It is stored as pending, "
            "or rejected with its reason (code in error.details.reason): malformed, "
            "truncated, unsigned, unknown_signer, bad_signature, hash_mismatch, "
            "version_incompatible, invalid_configuration, too_large. A rejected bundle "
            "changes nothing."
        ),
        request={"application/json": {"type": "object"}},
        responses={
            201: BUNDLE_ANSWER,
            401: OpenApiResponse(description="Missing or invalid promotion token"),
            409: OpenApiResponse(description="This site is not a production site"),
            422: OpenApiResponse(description="The bundle was rejected; the reason is recorded"),
        },
        tags=["promotion"],
    )
    def post(self, request: Request) -> Response:
        if site_role() != "production":
            return Response(
                error_body("not_production", "Only a production site receives promotions."),
                status=409,
            )
        raw = request.data if isinstance(request.data, bytes) else b""
        link = request.auth
        if not isinstance(link, PromotionLink):
            raise exceptions.NotAuthenticated
        bundle = receive_bundle(raw, "api", link=link, actor=f"link {link.name}")
        if bundle.status == BundleStatus.REJECTED:
            return Response(
                error_body(
                    "bundle_rejected",
                    bundle.reason,
                    {"reason": bundle.reason_code, "bundle": bundle.pk},
                ),
                status=422,
            )
        return Response(
            {"bundle": bundle.pk, "status": bundle.status, "snapshot": bundle.snapshot_id},
            status=201,
        )
