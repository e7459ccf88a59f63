"""EventBridge schedules, locally: the stack's scheduled rules invoke their functions."""
