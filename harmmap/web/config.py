"""Web settings, each with a help text, checked once when the app is created."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from harmmap.errors import ConfigError
from harmmap.privacy import DEFAULT_BASE, DEFAULT_THRESHOLD


@dataclass(frozen=True, slots=True)
class WebConfig:
    """Settings of one app (``create_app(config)``); see each field's ``help`` metadata."""

    workspace: str = field(default="", metadata={"help": "workspace directory (required)"})
    secret_key: str = field(default="", metadata={"help": "signs session cookies; default: HARMMAP_SECRET_KEY or "
                                                          "<workspace>/secret_key (created 0600 on first use)"})
    secure_cookies: bool = field(default=True, metadata={"help": "mark cookies Secure (needs HTTPS); harmmap serve "
                                                                  "turns it off on a loopback address"})
    session_hours: float = field(default=8.0, metadata={"help": "a session expires after this many hours"})
    max_upload_mb: float = field(default=20.0, metadata={"help": "largest accepted upload"})
    login_attempts: int = field(default=5, metadata={"help": "failed logins allowed per name or address per window"})
    login_window_s: float = field(default=900.0, metadata={"help": "rate-limit window for failed logins"})
    suppression_threshold: int = field(default=DEFAULT_THRESHOLD,
                                       metadata={"help": "counts below this are hidden from retailers"})
    suppression_base: int = field(default=DEFAULT_BASE, metadata={"help": "other counts shown to retailers are "
                                                                           "rounded to a multiple of this"})
    tiles_url: str = field(default="", metadata={"help": "basemap tile URL template ({z}/{x}/{y}); empty: no tiles, "
                                                         "boundaries only (works offline)"})
    tiles_attribution: str = field(default="", metadata={"help": "attribution shown with the tiles"})
    max_map_bytes: int = field(default=2_000_000, metadata={"help": "largest map payload one view may send"})
    testing: bool = field(default=False, metadata={"help": "Flask testing mode"})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "WebConfig":
        """Build from a dict (unknown keys are an error)."""
        values = dict(values or {})
        values.setdefault("workspace", os.environ.get("HARMMAP_WORKSPACE", ""))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError("unknown web setting", given=", ".join(unknown), fix=f"use some of {sorted(known)}")
        return cls(**values)


def check_config(config: WebConfig) -> WebConfig:
    """Validate the settings and fill in the secret key."""
    if not config.workspace:
        raise ConfigError("the web app needs a workspace", given="workspace=''",
                          fix="pass create_app({'workspace': PATH}) or harmmap --workspace PATH serve")
    if config.max_upload_mb <= 0 or config.session_hours <= 0 or config.login_attempts < 1:
        raise ConfigError("upload size, session length and login attempts must be positive",
                          given=f"{config.max_upload_mb}, {config.session_hours}, {config.login_attempts}")
    if config.tiles_url and not config.tiles_url.startswith("https://"):
        raise ConfigError("basemap tiles must be served over HTTPS", given=config.tiles_url,
                          fix="use an https:// tile URL or leave it empty for boundaries only")
    secret = config.secret_key or os.environ.get("HARMMAP_SECRET_KEY") or _workspace_secret(Path(config.workspace))
    if len(secret) < 32:
        raise ConfigError("the secret key is too short", given=f"{len(secret)} characters",
                          fix="use at least 32 random characters (or unset it to let harmmap generate one)")
    return replace(config, secret_key=secret)


def _workspace_secret(root: Path) -> str:
    """Read, or create with owner-only permissions, the workspace's secret key file."""
    path = root / "secret_key"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
        handle.flush()
        os.fsync(handle.fileno())
    return path.read_text(encoding="utf-8").strip()
