"""The experiment spec: the pydantic schema, the one YAML loader, --set, the resolved dump."""
