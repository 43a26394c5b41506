"""The catalog's own implementations: one module per interface, with the hooks any plugin uses."""
