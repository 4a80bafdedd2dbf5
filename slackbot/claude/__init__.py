"""The Claude side: one Claude Agent SDK session per thread, how its CLI is started and
confined, what it is handed, and its transcripts. Knows the SDK, never Slack."""
