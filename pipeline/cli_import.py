"""`adlib import PATH...`: the command (the work is in :mod:`pipeline.importer`).

Registered on :data:`pipeline.cli.cli` when this module is imported (the last line of
``pipeline/cli.py``), because it uses the CLI's own config, engine and error helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from collectors.redact import Redactor
from pipeline.cli import UsageProblem, _config_option, _engine, _fails_cleanly, _load
from pipeline.importer import ImportRefused, import_file, recognise_all
from pipeline.logs import setup_logging


@click.command("import")
@_config_option
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@_fails_cleanly
def import_command(config_file: str | None, paths: Sequence[str]) -> None:
    """Load files you downloaded: Meta Ad Library Reports, Google bundles, Snap PoliticalAds.

    Each file is recognised by its name and first line, kept under data_dir/raw/ and loaded in
    one transaction: a damaged file changes nothing, and a file already imported is skipped.
    A file may be older than what was collected, so it only adds what the database lacks (new
    ads and rows, empty cells); it never replaces a stored value or delists an ad.
    Exit 2 (one line): a file adlib does not recognise or cannot read; nothing after it runs.
    """
    config = _load(config_file)
    redactor = Redactor()
    log = setup_logging(level=config.log.level, fmt=config.log.format, redactor=redactor)
    try:
        files = recognise_all([Path(p) for p in paths])
        engine = _engine(config)
        for file in files:
            done = import_file(config, engine, file, log=log, redactor=redactor)
            if done.already:
                click.echo(f"{file.path}: already imported (sha256 {done.sha256[:12]}); skipped")
                continue
            kept = f", {done.quarantined} quarantined" if done.quarantined else ""
            click.echo(f"{file.path}: {file.source} {file.scope}: {done.rows} rows imported{kept}")
    except ImportRefused as exc:
        raise UsageProblem(str(exc)) from None
