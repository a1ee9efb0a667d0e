"""The app's URLs plus one view that fails, for the server-error page test."""

from django.urls import path

from threetier.webapp.urls import handler500, urlpatterns as app_urlpatterns


def boom(request):
    secret_in_a_local = "local-variable-secret"  # noqa: F841 - must not reach the page
    raise RuntimeError("database password is hunter2")


urlpatterns = [*app_urlpatterns, path("boom", boom)]
__all__ = ["handler500", "urlpatterns"]
