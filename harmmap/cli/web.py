"""``harmmap serve`` and ``harmmap user ...``."""

from __future__ import annotations

import ipaddress
import socket
import threading

import click

from harmmap.cli.output import emit_json


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def serve_app(workspace: str, host: str, port: int, threads: int, tiles: str = "") -> None:
    """Run the web app on waitress (blocks); the map index of the latest run is built meanwhile in a
    background thread."""
    from waitress import serve

    from harmmap.web import create_app
    from harmmap.web.maps import warm_index

    loopback = _is_loopback(host)
    app = create_app({"workspace": workspace, "secure_cookies": not loopback, "tiles_url": tiles})
    # build the latest run's map index now (seconds on national data) rather than on the first /map
    threading.Thread(target=warm_index, args=(app,), name="harmmap-map-warm-up", daemon=True).start()
    if not loopback:
        click.echo("warning: serving beyond this machine: put harmmap behind a TLS proxy (cookies are Secure)",
                   err=True)
    serve(app, host=host, port=port, threads=threads, ident="harmmap")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--tiles", default="", help="Basemap tile URL (https://.../{z}/{x}/{y}.png); default none (offline).")
@click.pass_obj
def serve_command(obj, host, port, threads, tiles) -> None:
    """Serve the web app (waitress)."""
    from harmmap.store.workspace import open_workspace

    ws = open_workspace(obj["workspace"])
    click.echo(f"harmmap on http://{host}:{port}/ (workspace {ws.root}); Ctrl+C stops it", err=True)
    serve_app(str(ws.root), host, port, threads, tiles)


@click.group("user")
def user_group() -> None:
    """Web accounts: add, remove, reset passwords, list, API tokens."""


@user_group.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["admin", "planner", "retailer", "deployment"]))
@click.option("--org", "org_id", help="The retailer's organisation (retailers only).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of generating one.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def user_add(obj, username, role, org_id, password_stdin, as_json) -> None:
    """Create a user; prints a generated password once unless --password-stdin."""
    from harmmap.store.accounts import add_user
    from harmmap.store.workspace import open_workspace

    given = click.get_text_stream("stdin").readline().rstrip("\n") if password_stdin else None
    user, password = add_user(open_workspace(obj["workspace"]), username, role, org_id=org_id, password=given)
    shown = None if password_stdin else password
    if as_json:
        emit_json({"username": user.username, "role": user.role, "org_id": user.org_id, "password": shown})
    else:
        click.echo(f"added {user.username} ({user.role}{', ' + user.org_id if user.org_id else ''})")
        if shown:
            click.echo(f"password (shown once): {shown}")


@user_group.command("remove")
@click.argument("username")
@click.pass_obj
def user_remove(obj, username) -> None:
    """Deactivate a user, end its sessions and revoke its tokens (kept for the audit log)."""
    from harmmap.store.accounts import remove_user
    from harmmap.store.workspace import open_workspace

    remove_user(open_workspace(obj["workspace"]), username)
    click.echo(f"removed {username}")


@user_group.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
@click.pass_obj
def user_reset(obj, username, password_stdin) -> None:
    """Set a new password (generated unless --password-stdin) and end the user's sessions."""
    from harmmap.store.accounts import reset_password
    from harmmap.store.workspace import open_workspace

    given = click.get_text_stream("stdin").readline().rstrip("\n") if password_stdin else None
    password = reset_password(open_workspace(obj["workspace"]), username, given)
    click.echo(f"password of {username} reset" + ("" if password_stdin else f"; new password (shown once): {password}"))


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def user_list(obj, as_json) -> None:
    """List users (never passwords)."""
    from harmmap.store.accounts import list_users
    from harmmap.store.workspace import open_workspace

    rows = [{"username": u.username, "role": u.role, "org_id": u.org_id, "active": u.active}
            for u in list_users(open_workspace(obj["workspace"]))]
    if as_json:
        emit_json(rows)
    else:
        for row in rows:
            click.echo(f"{row['username']}\t{row['role']}\t{row['org_id'] or '-'}\t{'active' if row['active'] else 'removed'}")


@user_group.command("token")
@click.argument("username")
@click.option("--label", default="script", show_default=True)
@click.pass_obj
def user_token(obj, username, label) -> None:
    """Create an API token (shown once) for scripts: Authorization: Bearer <token>."""
    from harmmap.store.accounts import create_token
    from harmmap.store.workspace import open_workspace

    click.echo(create_token(open_workspace(obj["workspace"]), username, label))


COMMANDS = [serve_command, user_group]
