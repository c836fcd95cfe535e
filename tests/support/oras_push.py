"""Push or pull an artifact with the ORAS Python client.

The integration tests, the demo and the benchmark use this as the
third-party tool that artifact-store must interoperate with. On push it
prints the manifest digest the registry reported.

    oras_push.py push --registry 127.0.0.1:5000 --ref deid/config:v1 \
        [--username U --password-env VAR] [--plain-http] PATH [PATH...]
    oras_push.py pull --registry 127.0.0.1:5000 --ref deid/config:v1 \
        --output DIR [--username U --password-env VAR] [--plain-http]

A PATH that is a folder is pushed as ORAS does it: one tar+gzip layer whose
title is the folder's name.
"""

import argparse
import os
import sys

import oras.client
import requests


def auth_backend(args):
    """The ORAS auth backend that matches the registry's challenge.

    The client's default backend treats any challenge as a token realm, so
    against an htpasswd registry it would ask the Basic realm's name (not a
    URL) for a token, and retry for minutes.
    """
    if not args.username:
        return "token"
    scheme = "http" if args.plain_http else "https"
    response = requests.get(
        f"{scheme}://{args.registry}/v2/", timeout=10, verify=False
    )
    challenge = response.headers.get("WWW-Authenticate", "")
    return "basic" if challenge.lower().startswith("basic") else "token"


def client_for(args):
    client = oras.client.OrasClient(
        hostname=args.registry,
        insecure=args.plain_http,
        tls_verify=False,
        auth_backend=auth_backend(args),
    )
    if args.username:
        password = os.environ.get(args.password_env or "", "")
        # set_basic_auth rather than login(): login also asks a Docker
        # daemon, which these machines do not run.
        client.auth.set_basic_auth(args.username, password)
    return client


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["push", "pull"])
    parser.add_argument("--registry", required=True)
    parser.add_argument("--ref", required=True, help="repository:tag")
    parser.add_argument("--username")
    parser.add_argument("--password-env", help="variable holding the password")
    parser.add_argument("--plain-http", action="store_true")
    parser.add_argument("--output", help="folder to pull into")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_intermixed_args()

    client = client_for(args)
    target = f"{args.registry}/{args.ref}"

    if args.command == "push":
        if not args.paths:
            parser.error("push needs at least one PATH")
        paths = [os.path.abspath(p).rstrip(os.sep) for p in args.paths]
        response = client.push(
            target=target,
            files=paths,
            disable_path_validation=True,
            quiet=True,
        )
        print(response.headers.get("Docker-Content-Digest", ""))
    else:
        if not args.output:
            parser.error("pull needs --output")
        for path in client.pull(target=target, outdir=args.output):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
