"""The API's pages: ?page=N, THREETIER_PAGE_SIZE users each, as
{"count", "next", "previous", "results"} (the list page uses the same size)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class UserPagination(PageNumberPagination):
    def get_page_size(self, request: Request) -> int:
        return settings.THREETIER_PAGE_SIZE
