from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cekura.accounts.services import api_key_create, credits_add, organization_get_or_create
from cekura.errors import DomainError


class Command(BaseCommand):
    help = "Create an API key for an organization (created if needed); prints the key last."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--organization", required=True)
        parser.add_argument(
            "--credits", type=int, default=0, help="credits to add to the organization"
        )
        parser.add_argument("--name", default="", help="a label for the key")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            org = organization_get_or_create(name=options["organization"])
            if options["credits"] < 0:
                raise CommandError("--credits must not be negative")
            if options["credits"]:
                credits_add(organization=org, amount=options["credits"])
            _, raw = api_key_create(organization=org, name=options["name"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        org.refresh_from_db()
        self.stdout.write(f"Organization {org.name!r} (id {org.pk}) has {org.credits} credits.")
        self.stdout.write("New API key (shown once, store it now):")
        self.stdout.write(raw)
