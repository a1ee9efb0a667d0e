from django.urls import path

from threetier.webapp.users import views

app_name = "users"

urlpatterns = [
    path("", views.user_list_view, name="list"),
    path("new/", views.user_create_view, name="create"),
    path("<str:user_id>/", views.user_detail_view, name="detail"),
    path("<str:user_id>/edit/", views.user_edit_view, name="edit"),
    path("<str:user_id>/delete/", views.user_delete_view, name="delete"),
    path("<str:user_id>/attachment", views.user_attachment_view, name="attachment"),
]
