from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from cekura.fields import EncryptedTextField, reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the newest key of FIELD_ENCRYPTION_KEYS. Put the new "
        "key first and keep the old ones after it, run this, then drop the old keys. All or "
        "nothing: a secret no configured key opens stops the command and changes nothing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        done = 0
        with transaction.atomic():
            for model in apps.get_models():
                for field in model._meta.concrete_fields:
                    if not isinstance(field, EncryptedTextField):
                        continue
                    table, column, pk = (
                        model._meta.db_table,
                        str(field.column),
                        str(model._meta.pk.column),
                    )
                    q = connection.ops.quote_name
                    with connection.cursor() as cursor:
                        # Raw column values: the field itself would hand back plaintext.
                        cursor.execute(f"SELECT {q(pk)}, {q(column)} FROM {q(table)}")  # noqa: S608 - names from the model
                        rows = [(key, value) for key, value in cursor.fetchall() if value]
                        for key, value in rows:
                            try:
                                new = reencrypt(value)
                            except ValueError as exc:
                                raise CommandError(
                                    f"{model.__name__} {key}, {field.name}: {exc}; nothing was "
                                    "changed"
                                ) from None
                            cursor.execute(
                                f"UPDATE {q(table)} SET {q(column)} = %s WHERE {q(pk)} = %s",
                                [new, key],
                            )  # noqa: S608
                            done += 1
        self.stdout.write(f"Re-encrypted {done} secret(s) with the newest key.")
