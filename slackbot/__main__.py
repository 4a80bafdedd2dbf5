"""`slackbot` / `python -m slackbot`: run the newspec bot."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .config import ConfigError, Mode, Settings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slackbot", description="Run the newspec Slack bot.")
    parser.add_argument("--http", action="store_true", help="serve over HTTP instead of Socket Mode")
    parser.add_argument("--port", type=int, default=3000, help="HTTP port (with --http; default 3000)")
    parser.add_argument("--host", default="0.0.0.0", help="HTTP bind address (with --http)")
    parser.add_argument(
        "--metrics-port", type=int, default=None,
        help="serve Prometheus metrics at /metrics on this port (off unless given; HTTP mode also serves them "
        "on --port)",
    )
    parser.add_argument(
        "--metrics-host", default="127.0.0.1",
        help="bind address for --metrics-port (default 127.0.0.1: this machine only)",
    )
    commands = parser.add_subparsers(dest="command")
    chat = commands.add_parser("chat", help="run an interview in this terminal, without Slack")
    chat.add_argument("name", help="project name (a folder under GENERATIONS_DIR)")
    check = commands.add_parser(
        "check",
        help="validate a project's spec files (exit 0 if AutoForge can build it) and, once AutoForge's "
        "initializer has run, that its features database holds the spec's features",
    )
    check.add_argument("dir", help="the project folder (spec in prompts/ or .autoforge/prompts/)")
    check.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: ok, problems, feature_count, the features as feature_create_bulk takes them "
        "and how the features database compares (database)",
    )
    return parser.parse_args(argv)


def check_spec(folder: str, as_json: bool = False) -> int:
    import json
    from pathlib import Path

    from .spec.feature_db import compare_with_spec
    from .spec.root_copy import problem as root_copy_problem
    from .spec.validate import Problem
    from .spec.validate import check_spec as check

    project = Path(folder).resolve()
    report = check(project)
    # Neither is in check_spec: the repair loop can't fix them (the bot refreshes the root copy).
    stale = root_copy_problem(project)
    if stale is not None:
        report.problems.append(Problem("app_spec.txt", stale))
    database = compare_with_spec(project, report.features, report.feature_count)
    if database is not None:
        report.problems += [Problem(database.path, message) for message in database.problems]
        report.notes += database.notes
    if as_json:
        print(json.dumps({**report.to_json(), "database": database and database.to_json()}, indent=2))
        return 0 if report.ok else 1
    for problem in report.problems:
        print(f"- {problem}")
    for note in report.notes:
        print(f"note: {note}")
    if report.problems:
        count = len(report.problems)
        print(f"{project.name}: {count} problem{'s' if count != 1 else ''}")
        return 1
    if database is not None and database.compared:
        print(f"{database.path} matches the spec ({database.rows} features)")
    if report.itemised:
        print(f"{project.name}: the spec looks buildable ({report.feature_count} features, in {report.folder})")
    else:
        print(f"{project.name}: the spec looks buildable (in {report.folder})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "check":  # needs no settings at all
        return check_spec(args.dir, as_json=args.json)
    mode: Mode = "chat" if args.command == "chat" else "http" if args.http else "socket"
    try:
        settings = Settings.from_env(mode=mode)
        if args.command == "chat":
            from .spec.files import check_name

            args.name = check_name(args.name)
    except ConfigError as problem:
        print(f"slackbot: configuration error: {problem}", file=sys.stderr)
        return 2
    except ValueError as problem:  # InvalidName
        print(f"slackbot: {problem}", file=sys.stderr)
        return 2
    settings.configure_logging()

    if args.command == "chat":
        from .terminal import Terminal, chat

        try:
            return asyncio.run(chat(settings, args.name, Terminal()))
        except KeyboardInterrupt:
            return 0

    from .app import serve

    try:
        asyncio.run(serve(
            settings, http=args.http, host=args.host, port=args.port,
            metrics_host=args.metrics_host, metrics_port=args.metrics_port,
        ))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
