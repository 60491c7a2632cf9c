"""Datasette plugin hooks for ``lmprog cache browse`` (imported only once Datasette is known to be there):
the ``lmprog_*`` SQL functions on every connection, and the ledger's packed cells shown as text."""

from __future__ import annotations

from datasette import hookimpl

from lmprog.ledger.browse_queries import DATABASE, register_functions

CELL_LIMIT = 1000  # characters of a decoded cell shown in a table page
_DECODED = {("calls", "request"): "lmprog_prompt", ("calls", "response_extra"): "lmprog_unpack",
            ("texts", "data"): "lmprog_unpack"}


@hookimpl
def prepare_connection(conn):
    register_functions(conn)


@hookimpl
def render_cell(value, column, table, database, datasette):
    """A call key as hex, a packed request as its prompt text, a packed blob as its text."""
    if database != DATABASE or not isinstance(value, bytes):
        return None
    if column == "key" and len(value) == 32:
        return value.hex()
    function = _DECODED.get((table, column))
    if function is None:
        return None

    async def decoded():
        result = await datasette.get_database(database).execute(f"SELECT {function}(?)", [value])
        text = result.first()[0] or ""
        return text if len(text) <= CELL_LIMIT else text[: CELL_LIMIT - 1] + "…"

    return decoded
