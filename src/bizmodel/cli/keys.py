"""CLI commands for the HTTP API's keys: ``bizmodel keys create|list|revoke|audit``.

Each command calls one :class:`~bizmodel.store.keys.KeyStore` method on the project's store
(the database ``bizmodel serve`` uses); a running server sees the change within
``server.key_cache_s`` seconds, without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from bizmodel.cli.output import emit

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", help="Project folder (default: BIZMODEL_PROJECT_DIR or here)."),
]
ACTOR = "cli"


@contextmanager
def _keys(project: Path | None) -> Iterator[Any]:
    from bizmodel.config import Settings
    from bizmodel.store import EventStore
    from bizmodel.store.keys import KeyStore

    store = EventStore.open(Settings.load(project).resolved_database_url())
    try:
        yield KeyStore(store)
    finally:
        store.close()


def _run(project: Path | None, call: Callable[[Any], Any], as_json: bool) -> None:
    with _keys(project) as keys:
        emit(call(keys), as_json)


def register(app: typer.Typer) -> None:
    """Add the ``keys`` command group to app."""
    from bizmodel.store.keys import AuditLog, KeyList

    keys = typer.Typer(
        help="API keys with roles (predict, ingest, read, admin) for bizmodel serve.",
        no_args_is_help=True,
    )
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def create_cmd(
        role: Annotated[
            list[str],
            typer.Option(
                "--role", help="predict, ingest, read or admin; repeat or comma-separate."
            ),
        ],
        name: Annotated[str | None, typer.Option(help="Who holds the key, e.g. ios-app.")] = None,
        rate_per_minute: Annotated[
            int | None,
            typer.Option(help="Calls per minute for this key (default: server.rate_per_minute)."),
        ] = None,
        calls_per_day: Annotated[
            int | None,
            typer.Option(help="Calls per UTC day for this key (default: server.calls_per_day)."),
        ] = None,
        project: ProjectOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Create a key: printed once; the project's store keeps only its hash."""
        _run(
            project,
            lambda k: k.create(
                role,
                name=name,
                rate_per_minute=rate_per_minute,
                calls_per_day=calls_per_day,
                actor=ACTOR,
            ),
            as_json,
        )

    @keys.command("list")
    def list_cmd(
        all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
        project: ProjectOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """List keys (id, roles, name, rate, state), never their secrets."""
        _run(project, lambda k: KeyList(k.list_keys(include_revoked=all_keys)), as_json)

    @keys.command("revoke")
    def revoke_cmd(
        key_id: Annotated[str, typer.Argument(help="The key's id (bzk_<id>_...).")],
        project: ProjectOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Revoke a key: refused by a running server within server.key_cache_s seconds."""
        _run(project, lambda k: k.revoke(key_id, actor=ACTOR), as_json)

    @keys.command("audit")
    def audit_cmd(
        limit: Annotated[int, typer.Option(help="Newest entries to show.")] = 50,
        project: ProjectOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Admin actions recorded in the store (keys, experiments, promotions), newest first."""
        _run(project, lambda k: AuditLog(k.audit_log(limit)), as_json)
