"""HTML pages: thin views that parse a form, call a service or selector and render.

Service errors are shown next to the form fields; a ServiceError escaping a view
(e.g. an unknown user_id, someone else's record) becomes an error page in
errors.ServiceErrorMiddleware.

Anyone reads the list and the pages; an anonymous visitor signs up (and is signed in);
a signed-in user edits or deletes only their own record, staff any.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from threetier.webapp.errors import ServiceError, add_to_form
from threetier.webapp.uploads import refuse_oversized_uploads
from threetier.webapp.users.forms import SignInForm, UserCreateForm, UserEditForm
from threetier.webapp.users.models import User
from threetier.webapp.users.selectors import SEARCH_MAX_LENGTH, user_attachment_open, user_get, user_list
from threetier.webapp.users.services import user_create, user_delete, user_update
from threetier.webapp.users.throttles import signup_throttle_wait


@require_safe
def user_list_view(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:SEARCH_MAX_LENGTH]
    page = Paginator(user_list(search=query), settings.THREETIER_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(user, user.can_be_changed_by(request.user)) for user in page]
    return render(request, "users/list.html", {"page": page, "rows": rows, "query": query})


@require_safe
def user_detail_view(request: HttpRequest, user_id: str) -> HttpResponse:
    user = user_get(user_id=user_id)
    context = {"user_entry": user, "can_change": user.can_be_changed_by(request.user)}
    return render(request, "users/detail.html", context)


def _changeable(request: HttpRequest, user_id: str) -> User:
    user = user_get(user_id=user_id)
    if not user.can_be_changed_by(request.user):
        raise ServiceError.forbidden(_("You may change only your own record."))
    return user


@require_http_methods(["GET", "HEAD", "POST"])
def user_create_view(request: HttpRequest) -> HttpResponse:
    """Sign up (anonymous: the new user is signed in) or, as staff, create a user."""
    actor = request.user
    if actor.is_authenticated and not actor.is_staff:
        raise ServiceError.forbidden(_("You are signed in already; sign out to create another account."))
    form = UserCreateForm(request.POST or None, request.FILES or None)
    title = _("New user") if actor.is_authenticated else _("Sign up")
    if request.method == "POST" and form.is_valid():
        wait = signup_throttle_wait(request)
        if wait is not None:
            minutes = max(1, math.ceil(wait / 60))
            message = _("Too many sign-ups right now. Try again in %(minutes)d minutes.") % {"minutes": minutes}
            form.add_error(None, message)
            response = render(request, "users/form.html", {"form": form, "title": title}, status=429)
            response["Retry-After"] = str(math.ceil(wait))
            return response
        try:
            refuse_oversized_uploads(request)
            user = user_create(**form.cleaned_data)
        except ServiceError as error:
            add_to_form(form, error)
        else:
            if not actor.is_authenticated:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, _("Welcome, %(user_id)s: you are signed in.") % {"user_id": user.user_id})
            else:
                messages.success(request, _("User %(user_id)s was created.") % {"user_id": user.user_id})
            return redirect("users:detail", user_id=user.user_id)
    return render(request, "users/form.html", {"form": form, "title": title})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def user_edit_view(request: HttpRequest, user_id: str) -> HttpResponse:
    user = _changeable(request, user_id)
    initial = {"user_name": user.user_name, "comment": user.comment}
    form = UserEditForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            refuse_oversized_uploads(request)
            user_update(user=user, **form.cleaned_data)
        except ServiceError as error:
            add_to_form(form, error)
        else:
            if form.cleaned_data.get("password") and user.pk == request.user.pk:
                update_session_auth_hash(request, user)  # a new password keeps this session
            messages.success(request, _("User %(user_id)s was saved.") % {"user_id": user.user_id})
            return redirect("users:detail", user_id=user.user_id)
    return render(
        request,
        "users/form.html",
        {"form": form, "title": _("Edit %(user_id)s") % {"user_id": user.user_id}, "user_entry": user},
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def user_delete_view(request: HttpRequest, user_id: str) -> HttpResponse:
    user = _changeable(request, user_id)
    if request.method == "POST":
        user_delete(user=user)
        messages.success(request, _("User %(user_id)s was deleted.") % {"user_id": user_id})
        return redirect("users:list")
    return render(request, "users/confirm_delete.html", {"user_entry": user})


@require_safe
def user_attachment_view(request: HttpRequest, user_id: str) -> FileResponse:
    """Streams the attachment from the shared storage (EFS directory or S3), so it
    downloads through any instance, whichever one received the upload."""
    user = user_get(user_id=user_id)
    handle = user_attachment_open(user=user)
    # as_attachment: an uploaded HTML file is downloaded, never rendered on our origin.
    return FileResponse(handle, as_attachment=True, filename=user.attachment_filename)


class SignInView(auth_views.LoginView):
    """Sign in with user_id and password; django-axes pauses an account or client
    after THREETIER_SIGNIN_FAILURES failures (a 429 page)."""

    form_class = SignInForm
    template_name = "users/signin.html"
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    """POST only (Django's rule): a link elsewhere cannot sign a visitor out."""

