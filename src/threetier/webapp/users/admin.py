"""The registry in Django's admin. The password hash is neither shown nor editable
there: set passwords through the registry's own pages or API."""

from django.contrib import admin

from threetier.webapp.users.models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("user_id", "user_name", "updated_at")
    search_fields = ("user_id", "user_name")
    fields = ("user_id", "user_name", "comment", "attachment")
