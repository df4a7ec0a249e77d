"""The `telehealth` command: serve, db upgrade, user create, audit verify, demo."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from telehealth.config import ConfigError, Settings
from telehealth.logs import configure_logging

T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run one command; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    result: int = args.run(settings, args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telehealth", description=__doc__)
    sub = parser.add_subparsers(title="commands")

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default: TELEHEALTH_HOST)")
    serve.add_argument("--port", type=int, help="port (default: TELEHEALTH_PORT or 8080)")
    serve.set_defaults(run=_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(title="db commands")
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(run=_db_upgrade)
    db.add_parser("status", help="say whether migrations are pending").set_defaults(run=_db_status)

    user = sub.add_parser("user", help="accounts").add_subparsers(title="user commands")
    create = user.add_parser("create", help="create a user (password read from stdin/prompt)")
    create.add_argument("--username", required=True)
    create.add_argument("--full-name", required=True)
    create.add_argument("--role", action="append", required=True, dest="roles")
    create.add_argument("--facility", help="facility code")
    create.add_argument("--specialty", action="append", default=[], dest="specialties")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.set_defaults(run=_user_create)

    audit = sub.add_parser("audit", help="audit log").add_subparsers(title="audit commands")
    audit.add_parser("verify", help="check the hash chain").set_defaults(run=_audit_verify)
    audit.add_parser(
        "chain", help="chain audit events written while no server ran (a server does it itself)"
    ).set_defaults(run=_audit_chain)

    files = sub.add_parser("attachments", help="consult attachment files").add_subparsers(
        title="attachments commands"
    )
    check = files.add_parser(
        "check", help="check every stored file against the database (and find orphans)"
    )
    check.add_argument(
        "--remove-orphans",
        action="store_true",
        help="delete files no attachment names that are older than an hour",
    )
    check.set_defaults(run=_attachments_check)

    demo = sub.add_parser("demo", help="load a demo network (Vietnamese)")
    demo.add_argument(
        "--password", default="may-bay-qua-nui-xa", help="password of every demo user"
    )
    demo.set_defaults(run=_demo)
    return parser


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def runner() -> T:
        return await coro_fn()

    return asyncio.run(runner())


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from telehealth.app import create_app
    from telehealth.db import migrate
    from telehealth.views import edge_server

    configure_logging()
    if settings.is_sqlite:
        migrate.upgrade(settings.database_url)
    elif _run(lambda: migrate.pending(settings.database_url)):
        print(
            "The database schema is behind this version: run `telehealth db upgrade` first.",
            file=sys.stderr,
        )
        return 3
    host = args.host or settings.host
    port = args.port or settings.port
    settings = settings.with_overrides(host=host, port=port)
    edge_server.run(create_app(settings), host, port)
    return 0


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from telehealth.db import migrate

    migrate.upgrade(settings.database_url)
    print("database is at", migrate.head_revision(settings.database_url))
    return 0


def _db_status(settings: Settings, args: argparse.Namespace) -> int:
    from telehealth.db import migrate

    current = _run(lambda: migrate.current_revision(settings.database_url))
    head = migrate.head_revision(settings.database_url)
    print(f"current: {current or 'empty'}; newest: {head}")
    return 0 if current == head else 1


def _user_create(settings: Settings, args: argparse.Namespace) -> int:
    from telehealth.cli_tasks import create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
    try:
        user_id = _run(lambda: create_user(settings, args, password))
    except Exception as exc:  # reported to the operator, not a traceback
        print(f"could not create the user: {exc}", file=sys.stderr)
        return 1
    print(user_id)
    return 0


def _audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from telehealth.cli_tasks import verify_audit

    try:
        report = _run(lambda: verify_audit(settings))
    except SQLAlchemyError as exc:
        print(
            f"cannot read the audit log ({type(exc).__name__}); is the schema there? "
            "Run `telehealth db upgrade`.",
            file=sys.stderr,
        )
        return 2
    for problem in report.problems:
        print(problem)
    verdict = "intact" if report.ok else f"BROKEN ({len(report.problems)} problems)"
    print(f"audit log: {report.checked} events checked, chain {verdict}")
    # Rows cut from the end leave no gap; an operator who keeps this line can tell.
    print(f"head: seq {report.head_seq} hash {report.head_hash}")
    if report.oldest_unchained is not None:
        # Not covered by the hash yet: the sequencer of a running server chains them.
        print(
            f"not chained yet: {report.unchained} events, the oldest written "
            f"{report.oldest_unchained.isoformat()}"
        )
    return 0 if report.ok else 1


def _audit_chain(settings: Settings, args: argparse.Namespace) -> int:
    from telehealth.cli_tasks import chain_audit

    try:
        chained = _run(lambda: chain_audit(settings))
    except SQLAlchemyError as exc:
        print(f"cannot chain the audit log ({type(exc).__name__})", file=sys.stderr)
        return 2
    print(f"audit log: {chained} events chained")
    return 0


def _attachments_check(settings: Settings, args: argparse.Namespace) -> int:
    from telehealth.cli_tasks import check_attachments

    try:
        report = _run(lambda: check_attachments(settings, args.remove_orphans))
    except SQLAlchemyError as exc:
        print(
            f"cannot read the attachments ({type(exc).__name__}); is the schema there? "
            "Run `telehealth db upgrade`.",
            file=sys.stderr,
        )
        return 2
    for digest in report.missing:
        print(f"missing: {digest}")
    for digest in report.damaged:
        print(f"damaged (content does not match its SHA-256): {digest}")
    kept = len(report.orphans) - report.removed
    print(
        f"attachments: {report.checked} files checked, {len(report.missing)} missing, "
        f"{len(report.damaged)} damaged; {len(report.orphans)} orphans "
        f"({report.removed} removed, {kept} kept)"
    )
    return 0 if report.ok else 1


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from telehealth.db import migrate
    from telehealth.demo import load_demo

    if settings.is_sqlite:
        migrate.upgrade(settings.database_url)
    try:
        summary = _run(lambda: load_demo(settings, args.password))
    except ValueError as exc:
        print(f"could not load the demo: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0
