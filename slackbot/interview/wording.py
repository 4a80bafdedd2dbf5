"""What an interview says in words of its own: Claude's first message in a thread, and
the thread's notes when a turn can't go on."""

from __future__ import annotations

from pathlib import Path

RESTART_NOTE = (
    ":arrows_counterclockwise: I'm restarting and had to stop mid-answer. "
    "Your last message is saved; I'll answer it when I'm back."
)
TURN_FAILED = ":warning: Something went wrong on my side. Reply here to try again."
STORE_LOST = (
    ":warning: I lost my connection to my database during that answer. Reply here in a minute or two to carry on."
)
# Sent after a restart that cut Claude off mid-answer, when Claude already had everything.
CUT_OFF = "(The bot restarted while you were answering and cut you off: carry on from where you stopped.)"


def opening_message(name: str, starter: str) -> str:
    return (
        f"{starter} has just started a spec interview for the project `{name}` in a Slack "
        "thread. Greet them briefly and ask your first question."
    )


def continue_message(name: str, starter: str, spec_files: tuple[Path, ...]) -> str:
    where = " and ".join(f"`{path}`" for path in spec_files)
    return (
        f"{starter} has opened a new thread to keep working on the project `{name}`, which "
        f"already has a spec from an earlier interview: {where}. Read both files, sum up the app "
        "in two lines, and ask what they would like to change. Edit the files where they are."
    )
