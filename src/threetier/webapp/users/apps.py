from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "threetier.webapp.users"
    label = "users"
    verbose_name = "Users registry"
    default_auto_field = "django.db.models.BigAutoField"
