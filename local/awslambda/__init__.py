"""Lambda locally: the functions' worker processes, the Lambda API, event source mappings."""
