"""REST endpoints of governance (the full API comes with the REST issue)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import principal_of


class WhoAmIApi(APIView):
    """Who the caller is, for which tenant, with which scopes: the first check of a new key."""

    required_scope = None  # any valid key

    @extend_schema(
        responses=inline_serializer(
            "WhoAmI",
            {
                "tenant": serializers.CharField(),
                "principal": serializers.CharField(),
                "scopes": serializers.ListField(child=serializers.CharField()),
                "is_admin": serializers.BooleanField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        return Response(
            {
                "tenant": principal.tenant.slug,
                "principal": principal.label,
                "scopes": sorted(principal.scopes),
                "is_admin": principal.is_admin,
            }
        )
