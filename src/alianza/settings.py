"""Node settings: a TOML file written by ``alianza init``, overridable by ``ALIANZA_*`` environment variables.

Keeping settings in a file next to the node's data (instead of only in the environment) lets an operator
see, back up and move a node as one folder; environment variables win so that containers and tests can
override a single value without editing the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from alianza.errors import ConfigurationError

CONFIG_ENV = "ALIANZA_CONFIG"
DEFAULT_CONFIG_NAME = "alianza.toml"


class NodeSettings(BaseSettings):
    """Everything a node needs to start."""

    model_config = SettingsConfigDict(env_prefix="ALIANZA_", extra="ignore")

    country: Literal["US", "MX"] = "MX"
    node_name: str = "Alianza"
    node_id: str = Field(default="", description="The node's name in federation (default: '<country>-node')")
    federation_poll_seconds: float = 1.0
    federation_batch: int = 200
    federation_checkpoint_seconds: float = 30.0
    match_epoch: str = "2026"
    match_threshold: float | None = None  # None: the private-matching schema's benchmarked default
    # Where entity resolution joins and compares its pairs (``matching.engines``): numpy, duckdb or spark
    match_engine: Literal["numpy", "duckdb", "spark"] = "numpy"
    spark_master: str = "local[*]"  # with match_engine = "spark": local[N] on this machine, or a cluster's URL
    database_url: str = "sqlite:///alianza.db"
    secret_key: str = Field(default="", repr=False)
    data_dir: Path = Path(".")
    upload_max_bytes: int = 10 * 1024 * 1024
    session_minutes: int = 480
    default_lang: Literal["en", "es"] = "en"
    host: str = "127.0.0.1"
    port: int = 8000
    config_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, file_secret_settings)

    @property
    def federation_id(self) -> str:
        return self.node_id or f"{self.country.lower()}-node"

    @property
    def body_limit(self) -> int:
        """The largest request body accepted: the largest upload plus its multipart framing and form fields."""
        return self.upload_max_bytes + 256 * 1024

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"


def find_config(explicit: Path | None = None) -> Path | None:
    """The config file to use: the explicit one, then ``$ALIANZA_CONFIG``, then ``./alianza.toml``."""
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    return local if local.exists() else None


def load_settings(config: Path | None = None, **overrides: Any) -> NodeSettings:
    """Read the node's settings file (if any) under environment overrides."""
    path = find_config(config)
    values: dict[str, Any] = {}
    if path is not None:
        if not path.exists():
            raise ConfigurationError(
                "Settings file {path} does not exist; run 'alianza init' or point --config at the node's file.",
                path=str(path),
            )
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8")).get("node", {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(
                "Settings file {path} is not valid TOML: {err}", path=str(path), err=str(exc)
            ) from None
        values["config_file"] = path
        base = path.parent
        if "data_dir" in values and not Path(values["data_dir"]).is_absolute():
            values["data_dir"] = str(base / values["data_dir"])
        values.setdefault("data_dir", str(base))
    env_keys = {k[len("ALIANZA_") :].lower() for k in os.environ if k.startswith("ALIANZA_")}
    for key in env_keys:
        values.pop(key, None)  # let the environment source win over the file
    values.update(overrides)
    return NodeSettings(**values)


def write_settings(path: Path, settings: NodeSettings) -> None:
    """Write the node's settings as TOML (the secret key included: the file must stay private, mode 0600)."""
    fields = {
        "country": settings.country,
        "node_name": settings.node_name,
        "node_id": settings.federation_id,
        "database_url": settings.database_url,
        "secret_key": settings.secret_key,
        "default_lang": settings.default_lang,
        "upload_max_bytes": settings.upload_max_bytes,
        "session_minutes": settings.session_minutes,
        "host": settings.host,
        "port": settings.port,
    }
    lines = ["# Alianza node settings. Keep this file private: it holds the node's secret key.", "[node]"]
    for key, value in fields.items():
        if isinstance(value, str):
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{key} = "{escaped}"')
        else:
            lines.append(f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
