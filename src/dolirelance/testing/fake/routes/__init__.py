"""The fake's route handlers, one module per Dolibarr resource."""
