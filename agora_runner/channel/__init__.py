"""Our own loopback channel: behaves like an Agora channel where a test can tell."""
