"""URLs: the HTML pages under /users/, sign-in and sign-out under /accounts/, the JSON
API under /api/ (its OpenAPI schema at /api/schema/), the admin, the language switch,
and the health endpoints (also answered early by HealthCheckMiddleware)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from knox import views as knox_views

from threetier.webapp import health
from threetier.webapp.users import api
from threetier.webapp.users import urls as user_urls
from threetier.webapp.users import views as user_views

urlpatterns = [
    path("", user_views.user_list_view, name="home"),
    path("users/", include(user_urls)),
    path("accounts/signin/", user_views.SignInView.as_view(), name="signin"),
    path("accounts/signout/", user_views.SignOutView.as_view(), name="signout"),
    path("api/users/", api.UserListApi.as_view(), name="api-user-list"),
    path("api/users/<user_id:user_id>/", api.UserDetailApi.as_view(), name="api-user-detail"),
    path("api/auth/login/", api.TokenLoginApi.as_view(), name="api-login"),
    path("api/auth/logout/", knox_views.LogoutView.as_view(), name="api-logout"),
    path("api/auth/logoutall/", knox_views.LogoutAllView.as_view(), name="api-logout-all"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("whoami", health.whoami, name="whoami"),
]

handler500 = "threetier.webapp.errors.server_error"
