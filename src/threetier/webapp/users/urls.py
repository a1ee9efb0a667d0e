from django.urls import path, register_converter

from threetier.webapp.users import views
from threetier.webapp.users.rules import USER_ID_URL_PATTERN


class UserIdConverter:
    """Only what a user_id can be: anything else in that place of a path is a 404."""

    regex = USER_ID_URL_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UserIdConverter, "user_id")

app_name = "users"

urlpatterns = [
    path("", views.user_list_view, name="list"),
    path("new/", views.user_create_view, name="create"),
    path("<user_id:user_id>/", views.user_detail_view, name="detail"),
    path("<user_id:user_id>/edit/", views.user_edit_view, name="edit"),
    path("<user_id:user_id>/delete/", views.user_delete_view, name="delete"),
    path("<user_id:user_id>/attachment", views.user_attachment_view, name="attachment"),
]
