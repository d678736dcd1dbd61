"""The predefined metrics, a family per module; each declares its metrics with
evaluators.registry.predefined, and the catalogue finds them here."""
