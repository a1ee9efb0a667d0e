"""URLs: the HTML pages under /users/, the JSON API under /api/users/, the admin,
and the health endpoints (also answered early by HealthCheckMiddleware)."""

from django.contrib import admin
from django.urls import include, path

from threetier.webapp import health
from threetier.webapp.users import api
from threetier.webapp.users import views as user_views

urlpatterns = [
    path("", user_views.user_list_view, name="home"),
    path("users/", include("threetier.webapp.users.urls")),
    path("api/users/", api.UserListApi.as_view(), name="api-user-list"),
    path("api/users/<str:user_id>/", api.UserDetailApi.as_view(), name="api-user-detail"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("whoami", health.whoami, name="whoami"),
]

handler500 = "threetier.webapp.errors.server_error"
