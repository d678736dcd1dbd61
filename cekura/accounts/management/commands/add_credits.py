from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cekura.accounts.models import Organization
from cekura.accounts.services import credits_add
from cekura.errors import DomainError


class Command(BaseCommand):
    help = "Add credits to an existing organization."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--organization", required=True)
        parser.add_argument("amount", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        org = Organization.objects.filter(name=options["organization"]).first()
        if org is None:
            raise CommandError(f"No organization named {options['organization']!r}.")
        try:
            balance = credits_add(organization=org, amount=options["amount"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Organization {org.name!r} now has {balance} credits.")
