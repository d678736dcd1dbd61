from __future__ import annotations

import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cekura.accounts.services import organization_get_or_create, user_create
from cekura.errors import DomainError


class Command(BaseCommand):
    help = (
        "Create a dashboard user in an organization (created if needed). The password comes from "
        "CEKURA_USER_PASSWORD, or is asked for; it is never taken on the command line."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--organization", required=True)
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("CEKURA_USER_PASSWORD")
        if password is None:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ.")
        try:
            org = organization_get_or_create(name=options["organization"])
            user_create(
                username=options["username"],
                password=password,
                organization=org,
                email=options["email"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"User {options['username']!r} can now sign in to the dashboard of {org.name!r}."
        )
