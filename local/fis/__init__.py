"""AWS FIS experiments, locally: the stack's experiment templates run as local faults."""
