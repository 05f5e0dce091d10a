"""Models of experiment engagement (experiments, requirements, records): see the engagement issue."""
