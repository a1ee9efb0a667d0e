from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "threetier.webapp.users"
    label = "users"
    verbose_name = "Users registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The search indexes are expressions with an operator class (User.Meta.indexes).
        # django.contrib.postgres registers OpClass this way in its ready(); installing
        # that app would also add a type lookup on every new database connection.
        from django.contrib.postgres.indexes import OpClass  # noqa: PLC0415 - apps are loaded now
        from django.db.models import OrderBy  # noqa: PLC0415
        from django.db.models.functions import Collate  # noqa: PLC0415
        from django.db.models.indexes import IndexExpression  # noqa: PLC0415

        IndexExpression.register_wrappers(OrderBy, OpClass, Collate)
