"""HTML pages: thin views that parse a form, call a service or selector and render.

Service errors are shown next to the form fields; a ServiceError escaping a view
(e.g. an unknown user_id, someone else's record) becomes an error page in
errors.ServiceErrorMiddleware.

Anyone reads the list and the pages; an anonymous visitor signs up (and is signed in);
a signed-in user edits or deletes only their own record, staff any.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import Truncator, add_truncation_text, calculate_truncate_chars_length
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from threetier.webapp.errors import ServiceError, add_to_form
from threetier.webapp.uploads import refuse_oversized_uploads
from threetier.webapp.users.forms import SignInForm, UserCreateForm, UserEditForm
from threetier.webapp.users.models import User
from threetier.webapp.users.selectors import SEARCH_MAX_LENGTH, user_attachment_open, user_get, user_list
from threetier.webapp.users.services import user_create, user_delete, user_update
from threetier.webapp.users.throttles import signup_throttle_wait


# A user_id that matches the URL converter and can appear nowhere else in these paths.
_LINK_PLACEHOLDER = "__id__"
ROW_LINKS = ("detail", "attachment", "edit", "delete")
COMMENT_PREVIEW_CHARS = 80  # what `truncatechars:80` showed


@dataclass(frozen=True)
class UserRow:
    """One line of the list, everything the template shows already computed: the user's
    fields, whether the viewer may change it, and its links."""

    user_id: str
    user_name: str
    comment_preview: str
    attachment_name: str  # "" without an attachment
    can_change: bool
    detail_url: str
    attachment_url: str
    edit_url: str
    delete_url: str


def row_link_templates() -> dict[str, tuple[str, str]]:
    """(before, after) the user_id in each per-row link, from one reverse() per link name
    per request instead of one per link per row (each reverse() costs ~18 µs). A user_id
    holds only URL-safe characters (rules.USER_ID_URL_PATTERN), so reverse() would not
    quote it either: before + user_id + after is what reverse() returns."""
    templates = {}
    for name in ROW_LINKS:
        before, _, after = reverse(f"users:{name}", args=[_LINK_PLACEHOLDER]).rpartition(_LINK_PLACEHOLDER)
        templates[name] = (before, after)
    return templates


def comment_previewer(limit: int = COMMENT_PREVIEW_CHARS) -> Callable[[str], str]:
    """What `truncatechars:limit` returns, without its per-character loop for the usual
    cases: a comment within the limit is shown whole, and an ASCII one (no combining
    characters, NFC already) is cut where Truncator cuts it, before the active language's
    ellipsis; anything else goes through Truncator itself."""
    keep = calculate_truncate_chars_length(limit, None)  # the limit less the ellipsis

    def preview(text: str) -> str:
        if len(text) <= limit:
            return text
        if text.isascii():
            return add_truncation_text(text[:keep])
        return Truncator(text).chars(limit)

    return preview


def user_rows(users: Iterable[User], viewer: object) -> list[UserRow]:
    """The page's rows; `viewer` is the request's user (maybe anonymous)."""
    templates = row_link_templates()
    (d0, d1), (a0, a1), (e0, e1), (x0, x1) = (templates[name] for name in ROW_LINKS)
    preview = comment_previewer()
    return [
        UserRow(
            user_id=(uid := user.user_id), user_name=user.user_name, comment_preview=preview(user.comment),
            attachment_name=user.attachment_filename, can_change=user.can_be_changed_by(viewer),
            detail_url=f"{d0}{uid}{d1}", attachment_url=f"{a0}{uid}{a1}", edit_url=f"{e0}{uid}{e1}",
            delete_url=f"{x0}{uid}{x1}",
        )
        for user in users
    ]


def list_page(users: QuerySet[User], number: str | None, per_page: int) -> Page:
    """The page `number` asks for (the first for none or a bad one, the last past the
    end), as Paginator.get_page gives it. The first page, when it holds fewer than
    `per_page` users, is every user there is: it is counted from its rows instead of a
    second query (the registry's usual case, and a round trip per page view saved). A
    full first page keeps the rows it fetched and is counted by a query when shown."""
    if number in (None, "", "1"):
        rows = list(users[:per_page])
        return Page(rows, 1, Paginator(rows if len(rows) < per_page else users, per_page))
    return Paginator(users, per_page).get_page(number)


@require_safe
def user_list_view(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:SEARCH_MAX_LENGTH]
    page = list_page(user_list(search=query), request.GET.get("page"), settings.THREETIER_PAGE_SIZE)
    rows = user_rows(page, request.user)
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

