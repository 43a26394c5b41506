"""Interface declarations: one module per interface, one ``@entrypoint`` per version."""
