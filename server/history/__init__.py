"""Edit history (issue 7): who changed which document when, and restore points."""
