"""The catalog's own implementations: one module per interface, using the same hooks as any plugin."""
