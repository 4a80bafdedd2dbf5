"""The Slack side: the relay that renders a session's events into a thread, the one
scheduler every Slack write goes through, Block Kit layouts, text escaping, people, files
people attach, and HTTP mode's front door. Knows Slack, never the Claude Agent SDK."""
