"""The stack, locally: template.yaml translated and deployed into the local endpoint."""
