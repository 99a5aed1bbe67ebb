"""`python -m pixelated.service serve|worker|create-key` (settings from PE_SERVICE_*)."""

from __future__ import annotations

import argparse
import json
import logging

from pixelated.service.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pixelated.service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API under uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    commands.add_parser("worker", help="run the job worker and webhook sender")
    key = commands.add_parser("create-key", help="create an API key (printed once)")
    key.add_argument("--name", required=True)
    key.add_argument("--scopes", default="score,submit,read")
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if args.command == "serve":
        import uvicorn

        from pixelated.service.app import create_app

        # access_log off: uvicorn would log query strings; the Guard logs route templates only
        uvicorn.run(create_app(settings), host=args.host, port=args.port, access_log=False)
    elif args.command == "worker":
        from pixelated.service.worker import loop

        loop(settings)
    else:
        from pixelated.service.auth import create_key
        from pixelated.service.store import Store

        token, row = create_key(Store(settings.db), args.name, args.scopes.split(","))
        print(json.dumps({**row, "token": token}))


if __name__ == "__main__":
    main()
