"""The ``legato`` command line."""


def main() -> None:
    from legato.cli.app import app

    app()
