from django.apps import AppConfig


class TestFrameworkConfig(AppConfig):
    name = "test_framework"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Test framework"
