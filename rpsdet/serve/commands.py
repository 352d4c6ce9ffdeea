"""`rpsdet serve` and `rpsdet users add|remove`: the command-line side of the serve package."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpsdet.cli_help import examples

if TYPE_CHECKING:
    from rpsdet.serve.models import ServedModel


def _serve_params(path: str) -> dict[str, Any]:
    from rpsdet.params import load_params

    return dict(load_params(path).get("serve") or {}) if Path(path).is_file() else {}


def served_versions(repo: Path, name: str, stages: list[str], versions: list[str]) -> list[ServedModel]:
    """Every asked stage, then every asked version, resolved through the registry; the first is the default."""
    from rpsdet.registry.versions import list_versions, resolve
    from rpsdet.serve.models import merge_duplicates, served_model

    metrics = {row["version"]: row["metrics"] for row in list_versions(repo) if row["name"] == name}
    models = []
    for stage, version in [(s, None) for s in stages] + [(None, v) for v in versions]:
        checkpoint, resolved = resolve(repo, name, version=version, stage=stage)
        models.append(served_model(checkpoint, name, resolved, stage, metrics.get(resolved)))
    return merge_duplicates(models)


def _serve(args: argparse.Namespace) -> int:
    from rpsdet.serve.config import ServeConfig
    from rpsdet.serve.models import served_model
    from rpsdet.serve.runner import serve_until_interrupted

    overrides = {
        k: v
        for k, v in (("host", args.host), ("port", args.port), ("replicas", args.replicas), ("num_gpus", args.num_gpus))
        if v is not None
    }
    cfg = ServeConfig.from_params({**_serve_params(args.params), **overrides})
    if args.checkpoint:
        if args.stage or args.version:
            raise ValueError("--checkpoint serves one file: leave out --stage and --version")
        models = [served_model(Path(args.checkpoint), args.name, "local")]
    else:
        stages = args.stage or ([] if args.version else ["prod"])
        models = served_versions(Path(args.repo), args.name, stages, args.version or [])
    serve_until_interrupted(models, cfg, address=args.address)
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
    p = sub.add_parser(
        "serve",
        help="serve model versions on Ray Serve: HTTP API + phone page (Ctrl-C stops)",
        **examples(
            "rpsdet serve",
            "rpsdet serve --stage prod --stage dev --port 8080",
            "rpsdet serve --version v0.1.0 --version v0.2.0 --replicas 2",
            "rpsdet serve --checkpoint models/round2/model.pt --address auto",
        ),
    )
    p.add_argument(
        "--stage",
        action="append",
        help="serve the version in this GTO stage; repeat for several (default prod when no --version is given)",
    )
    p.add_argument("--version", action="append", help="serve this registered version, e.g. v0.1.0; repeatable")
    p.add_argument("--checkpoint", help="serve one checkpoint file directly (no registry)")
    p.add_argument("--name", default="model", help="artifact name (default model)")
    p.add_argument("--repo", default=".", help="the git + DVC repository holding the registry")
    p.add_argument("--host", help="bind address (params serve.host, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (params serve.port)")
    p.add_argument("--replicas", type=int, help="model replicas (params serve.replicas)")
    p.add_argument("--num-gpus", type=_gpus, help="GPUs per replica or 'auto' (params serve.num_gpus)")
    p.add_argument("--address", help="join this Ray cluster (e.g. ray://head:10001) instead of starting one")
    p.add_argument("--params", default="params.yaml")
    p.set_defaults(func=_serve)

    users = sub.add_parser(
        "users",
        help="manage the users who may log in",
        **examples("rpsdet users add alice", "rpsdet users add bob --file /srv/rpsdet/users.json"),
    ).add_subparsers(dest="users_command", required=True)
    p = users.add_parser(
        "add",
        help="add a user or change a password (asks twice)",
        **examples("rpsdet users add alice", "rpsdet users add bob --file /srv/rpsdet/users.json"),
    )
    p.add_argument("name")
    p.add_argument("--file", help="users file (default params serve.users_file)")
    p.add_argument("--params", default="params.yaml")
    p.set_defaults(func=_users_add)
    p = users.add_parser(
        "remove",
        help="remove a user; their tokens stop working at once",
        **examples("rpsdet users remove alice", "rpsdet users remove bob --file /srv/rpsdet/users.json"),
    )
    p.add_argument("name")
    p.add_argument("--file", help="users file (default params serve.users_file)")
    p.add_argument("--params", default="params.yaml")
    p.set_defaults(func=_users_remove)
