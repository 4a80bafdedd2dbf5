"""The spec and its hand-off: names and folders, reading and checking app_spec.txt as
AutoForge will, AutoForge's features database and allowlist, the root copy."""
