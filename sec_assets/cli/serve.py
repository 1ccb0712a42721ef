"""``sec-assets serve [--host H] [--port P] [--token-file F]``: the real-time service (see
:mod:`sec_assets.serve`). Settings as everywhere (configs/sec.yaml, ``SEC_*``); the token from
``--token-file`` or ``SEC_SERVE_TOKEN``, never from the settings (it would show in the Dagster UI)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve each octave's champion over HTTP: labels for posted clips, corrections, metrics",
        description="An HTTP service (FastAPI on uvicorn) labelling posted clips with each octave's "
        "champion from the registry, following its alias; corrections go into the landing folder. "
        "Binds 127.0.0.1 unless told otherwise.",
    )
    p.add_argument("--host", help="address to bind (setting serve_host, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (setting serve_port, default 8350)")
    p.add_argument(
        "--token-file",
        type=Path,
        help="a file holding the bearer token every /v1 call must carry (else SEC_SERVE_TOKEN; none: open)",
    )
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sec_assets.core.settings import load_settings
    from sec_assets.serve.app import TOKEN_ENV, create_app
    from sec_assets.serve.service import Service

    settings = load_settings(serve_host=args.host, serve_port=args.port)
    token = args.token_file.read_text().strip() if args.token_file else os.environ.get(TOKEN_ENV) or None
    if args.token_file and not token:
        raise ValueError(f"--token-file {args.token_file} is empty")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not token and settings.serve_host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"sec-assets serve: WARNING: bound to {settings.serve_host} without a token: anyone who "
            f"reaches this port can post clips and corrections (set {TOKEN_ENV} or --token-file)",
            file=sys.stderr,
        )
    app = create_app(Service(settings), token=token)
    print(
        f"sec-assets serve: {settings.home} on http://{settings.serve_host}:{settings.serve_port}/ "
        f"({'bearer token required' if token else 'no token'})",
        flush=True,
    )
    uvicorn.run(app, host=settings.serve_host, port=settings.serve_port, log_level=args.log_level)
    return 0
