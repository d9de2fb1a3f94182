"""Settings: environment (``LEGATO_*``) over ``$LEGATO_HOME/config.toml`` over defaults.

Pass a :class:`Settings` around rather than reading the environment deep inside
the code; :func:`get_settings` builds the process default lazily so tests can
point ``LEGATO_HOME`` at a temporary folder before anything is opened.

The config file is read through pydantic-settings' own TOML source, so a value
there is validated exactly like the same value in the environment. ``home`` is
the one setting the file cannot hold: the file lives in it. Every problem with a
setting (a damaged file, an unknown key, a value out of range) is raised as one
:class:`SettingsError` naming the variable or the file and what is allowed.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from legato.errors import LegatoError
from legato.files import private_dir

ENV_PREFIX = "LEGATO_"
CONFIG_FILE_NAME = "config.toml"
DEFAULT_HOME = "~/.legato"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_REQUEST_BYTES = 512 * 1024

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(LegatoError, ValueError):
    """A setting cannot be used: a damaged config file, an unknown key or a bad value."""


class Settings(BaseSettings):
    """Everything legato can be told from outside the code."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    home: Path = Field(
        default=Path(DEFAULT_HOME),
        description="Where the embedded database, results, logs and config.toml live "
        "(environment only).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; default: SQLite file legato.db under home.",
    )
    api_url: str | None = Field(default=None, description="Base URL of a legato server.")
    api_key: str | None = Field(
        default=None,
        repr=False,
        description="API key sent to the server at api_url (made by `legato api-key create`).",
    )
    results_url: str | None = Field(
        default=None,
        description="fsspec URL where task results are written; default: home/results.",
    )
    log_level: LogLevel = Field(
        default="INFO",
        description="Level of run loggers: lines below it are neither printed nor stored.",
    )
    store_lock_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds to wait for a locked SQLite database before giving up.",
    )
    writer_linger: float = Field(
        default=0.05,
        ge=0,
        description="Seconds the background writer gathers task states before committing.",
    )
    client_max_outage: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a client keeps retrying an unreachable server before failing.",
    )
    worker_poll_interval: float = Field(
        default=2.0,
        gt=0,
        description="Seconds a worker waits between looking for due runs of its pool (with a "
        "server, the most a claim waits there: the server wakes it as soon as a run is due).",
    )
    worker_launcher: Literal["auto", "process", "fork"] = Field(
        default="auto",
        description="How a worker starts each flow run: 'process' (a new Python process), "
        "'fork' (forked from a process that imported legato once; Linux), 'auto' (fork "
        "where it works).",
    )
    worker_entrypoint_dirs: Annotated[list[Path], NoDecode] = Field(
        default=[],
        description="Directories a worker runs flows from (separated by ':', as in PATH): "
        "a run whose entrypoint file or module lies outside them fails without being "
        "imported. Empty: any entrypoint runs.",
    )
    worker_heartbeat_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between a worker's heartbeats for the runs it holds.",
    )
    heartbeat_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds without a heartbeat after which a run's worker is taken for dead.",
    )
    reaper_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between the server reaper's passes (crashing runs of dead workers).",
    )
    server_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Host names the server answers to besides localhost, 127.0.0.1 and [::1] "
        "(comma-separated; '.example.com' a domain and its subdomains, '*' any name). Unset: "
        "a server bound to loopback answers only to those three (a guard against DNS "
        "rebinding), one bound beyond loopback to any name.",
    )
    server_max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1,
        description="Largest body of a batch of task runs, states and logs (POST /api/bulk) "
        "the server accepts; larger ones are answered 413 (legato's client splits its "
        "batches to fit).",
    )
    server_max_request_bytes: int = Field(
        default=DEFAULT_MAX_REQUEST_BYTES,
        ge=1,
        description="Largest body of any other request (a deployment, a run's parameters, a "
        "state); larger ones are answered 413. Such bodies are read and checked whole on "
        "the server's event loop, so the cap bounds how long one request can hold up the "
        "others (as in Prefect Cloud, a run's parameters are meant to be small: pass large "
        "data by reference).",
    )
    scheduler_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between the server scheduler's passes (making runs, marking Late).",
    )
    scheduler_max_runs: int = Field(
        default=100,
        ge=1,
        description="Most upcoming runs the scheduler keeps stored per schedule.",
    )
    scheduler_min_runs: int = Field(
        default=3,
        ge=0,
        description="Fewest upcoming runs kept per schedule, even beyond the horizon.",
    )
    scheduler_horizon_seconds: float = Field(
        default=7 * 24 * 3600.0,
        ge=0,
        description="How far ahead the scheduler makes runs (seconds).",
    )
    automation_action_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a server may take over an automation action before another "
        "may take it again (it was killed while running it).",
    )
    events_retention_days: float = Field(
        default=7.0,
        gt=0,
        description="Events sent by clients and webhooks, and deployment and work-pool "
        "changes, older than this many days are deleted by the server (a run's state "
        "events live as long as the run).",
    )
    late_after_seconds: float = Field(
        default=15.0,
        ge=0,
        description="Seconds past its slot after which an unstarted scheduled run is Late.",
    )
    concurrency_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds a task run's tag concurrency slot lasts unless renewed (it is renewed "
            "while the task runs, so a dead process's slots free themselves after this)."
        ),
    )
    encryption_key: str | None = Field(
        default=None,
        repr=False,
        description="Fernet key (32 url-safe base64 bytes) that encrypts stored secrets such "
        "as notification webhook URLs and SMTP passwords; unset: the key file "
        "encryption.key under home, made on first use.",
    )
    server_public_url: str | None = Field(
        default=None,
        description="The server's URL as people reach it (e.g. https://legato.example.com): "
        "notifications link to runs under it. Unset: messages carry no link.",
    )
    concurrency_poll_max: float = Field(
        default=2.0,
        gt=0,
        description="Longest wait between two tries of a task run waiting for a tag slot.",
    )

    @field_validator("server_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        # LEGATO_SERVER_ALLOWED_HOSTS=a.example,b.example (the environment holds text).
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("worker_entrypoint_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: Any) -> Any:
        # LEGATO_WORKER_ENTRYPOINT_DIRS=/srv/flows:/opt/more (the environment holds text).
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        # Loggers take "debug" as well as "DEBUG"; store the one spelling.
        return value.strip().upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, ConfigFileSource(settings_cls, config_file_path()))

    @property
    def home_path(self) -> Path:
        return self.home.expanduser()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home_path / 'legato.db'}"

    @property
    def effective_results_url(self) -> str:
        return self.results_url or str(self.home_path / "results")


class FileValues(Settings):
    """The Settings model with no source but its arguments: checks a config file's values
    alone (the environment may hide a bad one, and must not fail a good one)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


FILE_KEYS: tuple[str, ...] = tuple(name for name in Settings.model_fields if name != "home")
"""The settings config.toml may hold, in the order ``legato config view`` lists them."""


# -- where values come from ----------------------------------------------------------


def env_var_name(key: str) -> str:
    return f"{ENV_PREFIX}{key.upper()}"


def env_value(key: str) -> tuple[str, str] | None:
    """The environment variable that sets ``key`` and its value, if one does.

    pydantic-settings matches names case-insensitively; so does this.
    """
    wanted = env_var_name(key).lower()
    for name, value in os.environ.items():
        if name.lower() == wanted:
            return name, value
    return None


def config_file_path() -> Path:
    """``$LEGATO_HOME/config.toml``; the home itself only ever comes from the environment."""
    found = env_value("home")
    home = found[1] if found else DEFAULT_HOME
    return Path(home).expanduser() / CONFIG_FILE_NAME


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's table as written ({} when there is no file); its keys are not checked."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            f"cannot read the config file {path}: {exc}; fix it or delete it"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the config file {path}: {exc}") from None


def check_file_keys(data: dict[str, Any], path: Path) -> None:
    for key in data:
        if key == "home":
            raise SettingsError(
                f"'home' cannot be set in {path}, the file that lives in it: set the "
                f"LEGATO_HOME environment variable instead, and remove the line with "
                "'legato config unset home'"
            )
        if key not in FILE_KEYS:
            raise SettingsError(
                f"unknown setting {key!r} in {path} (known: {', '.join(FILE_KEYS)}); "
                f"remove it with 'legato config unset {key}'"
            )


class ConfigFileSource(TomlConfigSettingsSource):
    """pydantic-settings' TOML source, with one-line errors for a damaged file or a typo."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        super().__init__(settings_cls, toml_file=path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        data = read_config_file(Path(file_path))
        check_file_keys(data, Path(file_path))
        return data


# -- loading -------------------------------------------------------------------------


def describe_errors(exc: ValidationError, *, path: Path) -> str:
    """One sentence per bad value, naming the variable or the file it came from."""
    problems = []
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0]) if error["loc"] else "?"
        found = env_value(key)
        if found:
            where = f"environment variable {found[0]}={found[1]!r}"
        else:
            where = f"{key} = {error.get('input')!r} in {path}"
        problem = f"{where} is not allowed: {error['msg']}"
        if not found:
            problem += (
                f" (change it with 'legato config set {key} VALUE' or 'legato config unset {key}')"
            )
        problems.append(problem)
    return "; ".join(problems)


def load_settings() -> Settings:
    """Read the settings now, raising :class:`SettingsError` for any bad value."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, path=config_file_path())) from None


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process's settings, read on first use."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def reset_settings() -> None:
    """Forget the cached settings (tests, or after changing the environment)."""
    global _settings
    _settings = None


# -- editing the file ----------------------------------------------------------------


def canonical_key(spelling: str) -> str:
    """``api_url``, ``api-url`` and ``LEGATO_API_URL`` all name ``api_url``."""
    key = spelling.strip().lower().replace("-", "_")
    prefix = ENV_PREFIX.lower()
    if key.startswith(prefix) and key != prefix:
        key = key[len(prefix) :]
    return key


def settable_key(spelling: str) -> str:
    """The setting ``spelling`` names, if the config file may hold it."""
    key = canonical_key(spelling)
    if key == "home":
        raise SettingsError(
            "home cannot be set in the config file: the file lives in it "
            f"($LEGATO_HOME/{CONFIG_FILE_NAME}); set the LEGATO_HOME environment "
            "variable instead"
        )
    if key not in FILE_KEYS:
        raise SettingsError(f"unknown setting {spelling!r}; settable: {', '.join(FILE_KEYS)}")
    return key


def set_config_value(path: Path, key: str, raw: str) -> Any:
    """Validate ``key = raw`` with the rest of the file and write it; return the stored value.

    Nothing is written unless the whole new file is valid.
    """
    data = read_config_file(path)
    check_file_keys(data, path)
    candidate = {**data, key: raw}
    try:
        validated = FileValues(**candidate)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            bad = str(error["loc"][0]) if error["loc"] else "?"
            if bad == key:
                problems.append(f"cannot set {key} to {raw!r}: {error['msg']}")
            else:
                problems.append(
                    f"{bad} = {error.get('input')!r} in {path} is not allowed: {error['msg']}"
                )
        raise SettingsError("; ".join(problems)) from None
    value = getattr(validated, key)
    write_config_file(path, {**data, key: value})
    return value


def unset_config_value(path: Path, spelling: str) -> tuple[str, bool]:
    """Remove the key ``spelling`` names from the file.

    Returns the key and whether it was there (when not, nothing is written). A key
    the file should not hold (``home``, a typo) can be removed too: that is how a
    file refused by every command is mended.
    """
    data = read_config_file(path)
    key = canonical_key(spelling)
    if key not in data:
        return settable_key(spelling), False
    del data[key]
    write_config_file(path, data)
    return key, True


FILE_HEADER = (
    "# legato settings (see `legato config view`). Environment variables LEGATO_* win\n"
    "# over these values. Written by `legato config set/unset`; comments are not kept.\n"
)


def write_config_file(path: Path, data: dict[str, Any]) -> None:
    """Replace the file atomically: readers see the old file or the new one, never half."""
    import tomli_w

    text = FILE_HEADER + tomli_w.dumps(data)
    private_dir(path.parent)
    # mkstemp makes the file 0600: it may hold the API key.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
