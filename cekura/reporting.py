"""What an error report (the debug page when DEBUG is on, the mail to ADMINS) may show: any
setting, header, POST parameter, local variable or key of a dict whose name looks like a
secret is replaced by stars, without the views having to be decorated one by one."""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

SECRET_NAMES = re.compile(
    r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE|CREDENTIAL|AUTH|FERNET|DATABASE_URL|BROKER", re.I
)


class SecretsFilter(SafeExceptionReporterFilter):
    hidden_settings = SECRET_NAMES

    def get_post_parameters(self, request: Any) -> Any:
        if request is None:
            return {}
        cleansed = request.POST.copy()
        for name in cleansed:
            if SECRET_NAMES.search(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        return [
            (name, self.cleanse_setting(name, value)) for name, value in tb_frame.f_locals.items()
        ]
