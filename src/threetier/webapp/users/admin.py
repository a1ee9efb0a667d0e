"""The registry in Django's admin (staff only; sign-ins counted by django-axes). The
password hash is neither shown nor editable here: set passwords through the registry's
own pages, the API, or `threetier manage changepassword USER_ID`."""

from django.contrib import admin

from threetier.webapp.users.models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("user_id", "user_name", "is_staff", "updated_at")
    list_filter = ("is_staff", "is_active")
    search_fields = ("user_id", "user_name")
    fields = (
        "user_id", "user_name", "comment", "attachment",
        "is_active", "is_staff", "is_superuser", "groups", "user_permissions", "last_login",
    )
    readonly_fields = ("last_login",)
    filter_horizontal = ("groups", "user_permissions")
