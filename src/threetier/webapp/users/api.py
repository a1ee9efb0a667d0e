"""The JSON API: /api/users/ (list, create) and /api/users/<user_id>/ (get, update, delete).

This is a demo registry, open like the seeds' test app: no authentication and no
permissions, so anyone who reaches it can change it. That is also why a non-browser
client can POST without a CSRF token (no session authentication, hence no CSRF check).
Put real authentication in front before storing anything that matters.

The serializers only parse; the same services as the HTML forms check every rule,
and their ServiceError becomes {"detail", "errors"} in errors.api_exception_handler.
The password is write-only: no response ever contains it or its hash.
"""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from threetier.webapp.uploads import refuse_oversized_uploads
from threetier.webapp.users.models import User
from threetier.webapp.users.selectors import user_get, user_list
from threetier.webapp.users.services import user_create, user_delete, user_update


class UserInputSerializer(serializers.Serializer):
    user_id = serializers.CharField(required=False, allow_blank=True)
    user_name = serializers.CharField(required=False, allow_blank=True)
    password = serializers.CharField(
        required=False, allow_blank=True, write_only=True, trim_whitespace=False
    )
    comment = serializers.CharField(required=False, allow_blank=True)
    attachment = serializers.FileField(required=False, allow_empty_file=True)
    remove_attachment = serializers.BooleanField(required=False, default=False)


class UserOutputSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    user_name = serializers.CharField()
    comment = serializers.CharField()
    attachment = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

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


class UserListApi(APIView):
    """GET: every user. POST: create one (JSON or multipart with an attachment)."""

    def get(self, request: Request) -> Response:
        return Response(
            UserOutputSerializer(user_list(), many=True, context={"request": request}).data
        )

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
    keeps the current one; user_id cannot change); DELETE removes it."""

    def get(self, request: Request, user_id: str) -> Response:
        return Response(_output(user_get(user_id=user_id), request))

    def patch(self, request: Request, user_id: str) -> Response:
        user = user_get(user_id=user_id)
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

    put = patch

    def delete(self, request: Request, user_id: str) -> Response:
        user_delete(user=user_get(user_id=user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
