"""Speed and memory measurements (never timed assertions in tests)."""
