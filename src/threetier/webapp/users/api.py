"""The JSON API: /api/users/ (list, sign up) and /api/users/<user_id>/ (get, update,
delete), and /api/auth/login/ + logout/ for tokens. The schema is at /api/schema/.

Who may do what (users/permissions.py): anyone reads; anyone may sign up (throttled per
client and overall); a user changes or deletes only their own record, staff any.
Scripts authenticate with a token from /api/auth/login/ (`Authorization: Token ...`),
browsers with their session and its CSRF token (users/authentication.py says why knox).

The serializers only parse; the same services as the HTML forms check every rule,
and their ServiceError becomes {"detail", "errors"} in errors.api_exception_handler.
The password is write-only: no response ever contains it or its hash. Times are UTC.
"""

from __future__ import annotations

import datetime

from django.contrib.auth import authenticate
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from knox.views import LoginView as KnoxLoginView
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from threetier.webapp.errors import ServiceError
from threetier.webapp.uploads import refuse_oversized_uploads
from threetier.webapp.users import rules
from threetier.webapp.users.models import User
from threetier.webapp.users.pagination import UserPagination
from threetier.webapp.users.permissions import RegistryPermission
from threetier.webapp.users.selectors import SEARCH_MAX_LENGTH, user_get, user_list
from threetier.webapp.users.services import user_create, user_delete, user_update
from threetier.webapp.users.throttles import SIGNUP_THROTTLES, ApiWriteThrottle


class UserInputSerializer(serializers.Serializer):
    user_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    user_name = serializers.CharField(required=False, allow_blank=True, max_length=64)
    password = serializers.CharField(
        required=False, allow_blank=True, write_only=True, trim_whitespace=False,
        max_length=rules.PASSWORD_MAX_LENGTH * 2,
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=rules.COMMENT_MAX_LENGTH * 2)
    attachment = serializers.FileField(required=False, allow_empty_file=True)
    remove_attachment = serializers.BooleanField(required=False, default=False)


class AttachmentSerializer(serializers.Serializer):
    filename = serializers.CharField()
    url = serializers.URLField()


class UserOutputSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    user_name = serializers.CharField()
    comment = serializers.CharField()
    attachment = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    # UTC whatever TIME_ZONE the pages use: API clients convert for themselves.
    created_at = serializers.DateTimeField(default_timezone=datetime.UTC)
    updated_at = serializers.DateTimeField(default_timezone=datetime.UTC)

    @extend_schema_field(AttachmentSerializer(allow_null=True))
    def get_attachment(self, user: User) -> dict[str, str] | None:
        if not user.attachment:
            return None
        path = reverse("users:attachment", kwargs={"user_id": user.user_id})
        return {"filename": user.attachment_filename, "url": self._absolute(path)}

    def get_url(self, user: User) -> str:
        return self._absolute(reverse("api-user-detail", kwargs={"user_id": user.user_id}))

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


def _output(user: User, request: Request) -> dict:
    return UserOutputSerializer(user, context={"request": request}).data


SEARCH_PARAMETER = OpenApiParameter(
    "q", str, description="Users whose user_id or user_name starts with this (any case).",
)


class UserListApi(APIView):
    """GET: the users, a page at a time, optionally searched. POST: sign up (anonymous,
    throttled) or, as staff, create a user (JSON, or multipart with an attachment)."""

    permission_classes = [RegistryPermission]
    pagination_class = UserPagination  # read by the schema generator too

    def get_throttles(self) -> list:
        return [throttle() for throttle in SIGNUP_THROTTLES] if self.request.method == "POST" else []

    @extend_schema(parameters=[SEARCH_PARAMETER], responses=UserOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        query = request.query_params.get("q", "")[:SEARCH_MAX_LENGTH]
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(user_list(search=query), request, view=self)
        return paginator.get_paginated_response(
            UserOutputSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(request=UserInputSerializer, responses={201: UserOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = UserInputSerializer(data=request.data)
        refuse_oversized_uploads(request._request)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = user_create(
            user_id=data.get("user_id", ""),
            user_name=data.get("user_name", ""),
            password=data.get("password", ""),
            comment=data.get("comment", ""),
            attachment=data.get("attachment"),
        )
        body = _output(user, request)
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class UserDetailApi(APIView):
    """GET one user; PUT/PATCH change the fields given (an omitted or empty password
    keeps the current one; user_id cannot change); DELETE removes it. Changes: the
    user themself or staff."""

    permission_classes = [RegistryPermission]
    throttle_classes = [ApiWriteThrottle]

    def _user(self, request: Request, user_id: str) -> User:
        user = user_get(user_id=user_id)
        self.check_object_permissions(request, user)
        return user

    @extend_schema(responses=UserOutputSerializer)
    def get(self, request: Request, user_id: str) -> Response:
        return Response(_output(user_get(user_id=user_id), request))

    @extend_schema(request=UserInputSerializer, responses=UserOutputSerializer)
    def patch(self, request: Request, user_id: str) -> Response:
        user = self._user(request, user_id)
        serializer = UserInputSerializer(data=request.data, partial=True)
        refuse_oversized_uploads(request._request)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user_update(
            user=user,
            user_name=data.get("user_name"),
            comment=data.get("comment"),
            password=data.get("password"),
            attachment=data.get("attachment"),
            remove_attachment=data.get("remove_attachment", False),
        )
        return Response(_output(user, request))

    @extend_schema(request=UserInputSerializer, responses=UserOutputSerializer)
    def put(self, request: Request, user_id: str) -> Response:
        return self.patch(request, user_id)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, user_id: str) -> Response:
        user_delete(user=self._user(request, user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SignInSerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=64)
    password = serializers.CharField(max_length=rules.PASSWORD_MAX_LENGTH * 2, trim_whitespace=False)


class TokenLoginApi(KnoxLoginView):
    """POST {"user_id", "password"} → {"token", "expiry"}; send it as
    `Authorization: Token <token>`. Failed attempts are counted by django-axes (per
    account and per client) and paused with a 429."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=SignInSerializer,
        responses={200: inline_serializer("TokenSerializer", {
            "token": serializers.CharField(), "expiry": serializers.DateTimeField(),
        })},
    )
    def post(self, request: Request, format: str | None = None) -> Response:  # noqa: A002 - knox's signature
        serializer = SignInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=serializer.validated_data["user_id"],
            password=serializer.validated_data["password"],
        )
        if user is None:
            raise ServiceError(_("The user ID or password is wrong."), status=400)
        request.user = user
        return super().post(request, format=format)
