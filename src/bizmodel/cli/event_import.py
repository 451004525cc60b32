"""``bizmodel events import``: bulk-load events from a file or a SQL query into the store.

It wraps :func:`bizmodel.store.imports.import_events`; the ``events`` group is in
:mod:`bizmodel.cli.serving`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bizmodel.cli.output import emit
from bizmodel.cli.project import ProjectOpt
from bizmodel.errors import ConfigError

MAP_HELP = (
    "Source column of each event field, FIELD=COLUMN,...; fields: user_id, type, ts, value, "
    "experiment, variant, client_event_id (unmapped fields read the same-named column)."
)


def register(events: typer.Typer) -> None:
    @events.command("import")
    def import_cmd(
        file: Annotated[
            Path | None, typer.Argument(help="FILE.csv or FILE.parquet (or use --sql).")
        ] = None,
        sql: Annotated[
            str | None, typer.Option("--sql", help="A SELECT to read the events from (--url).")
        ] = None,
        url: Annotated[
            str | None, typer.Option("--url", help="SQLAlchemy URL of the database --sql reads.")
        ] = None,
        columns: Annotated[str | None, typer.Option("--map", help=MAP_HELP)] = None,
        constants: Annotated[
            str | None,
            typer.Option("--set", help="One value for every row, FIELD=VALUE,... (experiment=x)."),
        ] = None,
        timezone: Annotated[
            str | None,
            typer.Option(
                "--timezone", help="Zone of timestamps written without one (UTC, Europe/Paris)."
            ),
        ] = None,
        batch_rows: Annotated[
            int, typer.Option("--batch-rows", help="Rows per transaction.", min=1)
        ] = 10_000,
        to: Annotated[
            str | None,
            typer.Option(
                "--to",
                help="Send to this running server (http://HOST:PORT) instead of the project's "
                "database; needs an ingest key (--api-key).",
            ),
        ] = None,
        api_key: Annotated[
            str | None,
            typer.Option(
                "--api-key", envvar="BIZMODEL_API_KEY", help="Key for --to (or BIZMODEL_API_KEY)."
            ),
        ] = None,
        project: ProjectOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Import events from a CSV/Parquet file or a SQL query, idempotently, in batches.

        Example: bizmodel events import log.csv --map user_id=customer,variant=segment
        --set experiment=email --timezone UTC [--to http://HOST:8000 --api-key KEY]
        """
        from tqdm.auto import tqdm

        from bizmodel.config import Settings
        from bizmodel.store import EventStore
        from bizmodel.store.imports import ColumnMap, import_events

        if (file is None) == (sql is None):
            raise ConfigError("give a FILE or --sql (with --url), not both")
        if (sql is None) != (url is None):
            raise ConfigError("--sql and --url go together")
        if api_key is not None and to is None:
            raise ConfigError("--api-key goes with --to (the server to send the events to)")
        mapping = ColumnMap.parse(columns, constants)
        store: Any
        if to is not None:
            from bizmodel.client import Client

            store = Client(to, api_key, timeout_s=120)
        else:
            store = EventStore.open(Settings.load(project).resolved_database_url())
        try:
            with tqdm(unit=" rows", desc="import", disable=None, leave=False) as bar:

                def advance(rows: int) -> None:
                    bar.update(rows - bar.n)

                result = import_events(
                    store,
                    sql if sql is not None else file,
                    mapping,
                    sql_url=url,
                    timezone=timezone,
                    batch_rows=batch_rows,
                    progress=advance,
                )
            emit(result, as_json)
        finally:
            store.close()
