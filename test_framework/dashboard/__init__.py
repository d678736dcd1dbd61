"""The web dashboard: server-rendered pages on the same services and serializers as the API."""
