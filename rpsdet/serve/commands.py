"""`rpsdet serve` and `rpsdet users add|remove`: the command-line side of the serve package."""
from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import Any

from rpsdet.cli_help import examples


def _serve_params(path: str) -> dict[str, Any]:
    from rpsdet.params import load_params

    return dict(load_params(path).get("serve") or {}) if Path(path).is_file() else {}


def _serve(args: argparse.Namespace) -> int:
    from rpsdet.registry.versions import resolve
    from rpsdet.serve.config import ServeConfig
    from rpsdet.serve.runner import checkpoint_info, serve_until_interrupted

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("replicas", args.replicas),
                                   ("num_gpus", args.num_gpus)) if v is not None}
    cfg = ServeConfig.from_params({**_serve_params(args.params), **overrides})
    if args.checkpoint:
        checkpoint, version, stage = Path(args.checkpoint), "local", None
    else:
        stage = None if args.version else args.stage
        checkpoint, version = resolve(Path(args.repo), args.name, version=args.version, stage=stage)
    info = checkpoint_info(checkpoint, args.name, version, stage)
    serve_until_interrupted(checkpoint, info, cfg, address=args.address)
    return 0


def _users_add(args: argparse.Namespace) -> int:
    from rpsdet.serve.auth import UserStore
    from rpsdet.serve.config import ServeConfig

    path = Path(args.file or ServeConfig.from_params(_serve_params(args.params)).users_file)
    password = getpass.getpass(f"password for {args.name}: ")
    if password != getpass.getpass("again: "):
        raise ValueError("the two passwords differ; nothing was changed")
    UserStore(path).add(args.name, password)
    print(f"user {args.name} saved in {path} (scrypt hash; a running server sees it at the next login)")
    return 0


def _users_remove(args: argparse.Namespace) -> int:
    from rpsdet.serve.auth import UserStore
    from rpsdet.serve.config import ServeConfig

    path = Path(args.file or ServeConfig.from_params(_serve_params(args.params)).users_file)
    UserStore(path).remove(args.name)
    print(f"user {args.name} removed from {path}; their tokens stop working at their next request")
    return 0


def _gpus(text: str) -> str | float:
    return text if text == "auto" else float(text)


def add_serve_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a model version on Ray Serve: HTTP API + phone page (Ctrl-C stops)",
                       **examples("rpsdet serve", "rpsdet serve --stage dev --port 8080",
                                  "rpsdet serve --version v0.1.0 --host 0.0.0.0 --replicas 2",
                                  "rpsdet serve --checkpoint models/round2/model.pt --address auto"))
    which = p.add_mutually_exclusive_group()
    which.add_argument("--stage", default="prod", help="serve the version in this GTO stage (default prod)")
    which.add_argument("--version", help="serve this registered version, e.g. v0.1.0")
    which.add_argument("--checkpoint", help="serve a checkpoint file directly (no registry)")
    p.add_argument("--name", default="model", help="artifact name (default model)")
    p.add_argument("--repo", default=".", help="the git + DVC repository holding the registry")
    p.add_argument("--host", help="bind address (params serve.host, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (params serve.port)")
    p.add_argument("--replicas", type=int, help="model replicas (params serve.replicas)")
    p.add_argument("--num-gpus", type=_gpus, help="GPUs per replica or 'auto' (params serve.num_gpus)")
    p.add_argument("--address", help="join this Ray cluster (e.g. ray://head:10001) instead of starting one")
    p.add_argument("--params", default="params.yaml")
    p.set_defaults(func=_serve)

    users = sub.add_parser("users", help="manage the users who may log in",
                           **examples("rpsdet users add alice", "rpsdet users add bob --file /srv/rpsdet/users.json")
                           ).add_subparsers(dest="users_command", required=True)
    p = users.add_parser("add", help="add a user or change a password (asks twice)",
                         **examples("rpsdet users add alice", "rpsdet users add bob --file /srv/rpsdet/users.json"))
    p.add_argument("name")
    p.add_argument("--file", help="users file (default params serve.users_file)")
    p.add_argument("--params", default="params.yaml")
    p.set_defaults(func=_users_add)
    p = users.add_parser("remove", help="remove a user; their tokens stop working at once",
                         **examples("rpsdet users remove alice",
                                    "rpsdet users remove bob --file /srv/rpsdet/users.json"))
    p.add_argument("name")
    p.add_argument("--file", help="users file (default params serve.users_file)")
    p.add_argument("--params", default="params.yaml")
    p.set_defaults(func=_users_remove)
