"""HTML pages: thin views that parse a form, call a service or selector and render.

Service errors are shown next to the form fields; a ServiceError escaping a view
(e.g. an unknown user_id) becomes an error page in errors.ServiceErrorMiddleware.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from threetier.webapp.errors import ServiceError, add_to_form
from threetier.webapp.uploads import refuse_oversized_uploads
from threetier.webapp.users.forms import UserCreateForm, UserEditForm
from threetier.webapp.users.selectors import user_attachment_open, user_get, user_list
from threetier.webapp.users.services import user_create, user_delete, user_update


@require_safe
def user_list_view(request: HttpRequest) -> HttpResponse:
    return render(request, "users/list.html", {"users": user_list()})


@require_safe
def user_detail_view(request: HttpRequest, user_id: str) -> HttpResponse:
    return render(request, "users/detail.html", {"user_entry": user_get(user_id=user_id)})


@require_http_methods(["GET", "HEAD", "POST"])
def user_create_view(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            refuse_oversized_uploads(request)
            user = user_create(**form.cleaned_data)
        except ServiceError as error:
            add_to_form(form, error)
        else:
            messages.success(request, f"User {user.user_id} was created.")
            return redirect("users:detail", user_id=user.user_id)
    return render(request, "users/form.html", {"form": form, "title": "New user"})


@require_http_methods(["GET", "HEAD", "POST"])
def user_edit_view(request: HttpRequest, user_id: str) -> HttpResponse:
    user = user_get(user_id=user_id)
    initial = {"user_name": user.user_name, "comment": user.comment}
    form = UserEditForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            refuse_oversized_uploads(request)
            user_update(user=user, **form.cleaned_data)
        except ServiceError as error:
            add_to_form(form, error)
        else:
            messages.success(request, f"User {user.user_id} was saved.")
            return redirect("users:detail", user_id=user.user_id)
    return render(
        request,
        "users/form.html",
        {"form": form, "title": f"Edit {user.user_id}", "user_entry": user},
    )


@require_http_methods(["GET", "HEAD", "POST"])
def user_delete_view(request: HttpRequest, user_id: str) -> HttpResponse:
    user = user_get(user_id=user_id)
    if request.method == "POST":
        user_delete(user=user)
        messages.success(request, f"User {user_id} was deleted.")
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
