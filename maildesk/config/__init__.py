"""Configuration: stations.yaml and secrets, read once, checked with errors that name the line."""
