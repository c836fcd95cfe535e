"""Drive Azure Blob Storage with Microsoft's Python SDK (azure-storage-blob).

The Azure Blob integration tests use this as the third-party client that
artifact-store must interoperate with: it uploads what the tests pull and
reads back what artifact-store pushed.

    azure_blob.py [--connection-string CS] COMMAND ...

      create-container NAME [--public blob|container]
      upload CONTAINER BLOB FILE [--content-type T]
      upload-dir CONTAINER PREFIX DIR      every file under DIR at PREFIX+path
      download CONTAINER BLOB FILE
      download-prefix CONTAINER PREFIX DIR every blob under PREFIX into DIR
      list CONTAINER [--prefix P]          JSON: [{name, size, etag}]
      etag CONTAINER BLOB                  the ETag as the SDK reports it
      properties CONTAINER BLOB            JSON: {name, size, etag,
                                           contentType, blocks}
      sas CONTAINER [--permissions rl] [--blob BLOB] [--hours N]

The connection string comes from --connection-string, else from the
AZURE_STORAGE_CONNECTION_STRING variable (the tests use the variable, so
that the account key is not in any argv).
"""

import argparse
import datetime
import json
import os
import sys

from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    ContentSettings,
    LinearRetry,
    generate_blob_sas,
    generate_container_sas,
)

# The SDK's default retry policy waits 15 s and more between tries; on
# loopback one quick retry is plenty, and a server that is down should fail
# the test at once.
def client_options():
    return {
        "retry_policy": LinearRetry(
            backoff=1, random_jitter_range=0, retry_total=1
        ),
        "connection_timeout": 10,
        "read_timeout": 60,
    }


def service(args):
    connection_string = args.connection_string or os.environ.get(
        "AZURE_STORAGE_CONNECTION_STRING"
    )
    if not connection_string:
        sys.exit(
            "azure_blob.py: no --connection-string and no "
            "AZURE_STORAGE_CONNECTION_STRING"
        )
    return BlobServiceClient.from_connection_string(
        connection_string, **client_options()
    )


def create_container(client, args):
    client.create_container(args.name, public_access=args.public)


def upload(client, args):
    settings = None
    if args.content_type:
        settings = ContentSettings(content_type=args.content_type)
    with open(args.file, "rb") as data:
        client.get_blob_client(args.container, args.blob).upload_blob(
            data, overwrite=True, content_settings=settings
        )


def upload_dir(client, args):
    container = client.get_container_client(args.container)
    for root, _dirs, files in os.walk(args.dir):
        for name in sorted(files):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, args.dir).replace(os.sep, "/")
            with open(path, "rb") as data:
                container.upload_blob(
                    args.prefix + relative, data, overwrite=True
                )


def download(client, args):
    blob = client.get_blob_client(args.container, args.blob)
    with open(args.file, "wb") as out:
        blob.download_blob().readinto(out)


def download_prefix(client, args):
    container = client.get_container_client(args.container)
    for item in container.list_blobs(name_starts_with=args.prefix):
        relative = item.name[len(args.prefix):]
        if relative.endswith("/") and item.size == 0:
            continue  # a folder marker
        path = os.path.join(args.dir, *relative.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            container.download_blob(item.name).readinto(out)


def list_blobs(client, args):
    container = client.get_container_client(args.container)
    listed = [
        {"name": item.name, "size": item.size, "etag": item.etag}
        for item in container.list_blobs(name_starts_with=args.prefix)
    ]
    print(json.dumps(listed))


def etag(client, args):
    blob = client.get_blob_client(args.container, args.blob)
    print(blob.get_blob_properties().etag)


def properties(client, args):
    blob = client.get_blob_client(args.container, args.blob)
    props = blob.get_blob_properties()
    committed, _uncommitted = blob.get_block_list("committed")
    print(json.dumps({
        "name": props.name,
        "size": props.size,
        "etag": props.etag,
        "contentType": props.content_settings.content_type,
        "blocks": [block.size for block in committed],
    }))


def sas(client, args):
    key = client.credential.account_key
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        hours=args.hours
    )
    if args.blob:
        token = generate_blob_sas(
            client.account_name, args.container, args.blob, account_key=key,
            permission=BlobSasPermissions.from_string(args.permissions),
            expiry=expiry,
        )
    else:
        token = generate_container_sas(
            client.account_name, args.container, account_key=key,
            permission=ContainerSasPermissions.from_string(args.permissions),
            expiry=expiry,
        )
    print(token)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connection-string")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("create-container")
    p.add_argument("name")
    p.add_argument("--public", choices=["blob", "container"])
    p.set_defaults(run=create_container)

    p = commands.add_parser("upload")
    p.add_argument("container")
    p.add_argument("blob")
    p.add_argument("file")
    p.add_argument("--content-type")
    p.set_defaults(run=upload)

    p = commands.add_parser("upload-dir")
    p.add_argument("container")
    p.add_argument("prefix")
    p.add_argument("dir")
    p.set_defaults(run=upload_dir)

    p = commands.add_parser("download")
    p.add_argument("container")
    p.add_argument("blob")
    p.add_argument("file")
    p.set_defaults(run=download)

    p = commands.add_parser("download-prefix")
    p.add_argument("container")
    p.add_argument("prefix")
    p.add_argument("dir")
    p.set_defaults(run=download_prefix)

    p = commands.add_parser("list")
    p.add_argument("container")
    p.add_argument("--prefix")
    p.set_defaults(run=list_blobs)

    p = commands.add_parser("etag")
    p.add_argument("container")
    p.add_argument("blob")
    p.set_defaults(run=etag)

    p = commands.add_parser("properties")
    p.add_argument("container")
    p.add_argument("blob")
    p.set_defaults(run=properties)

    p = commands.add_parser("sas")
    p.add_argument("container")
    p.add_argument("--permissions", default="rl")
    p.add_argument("--blob")
    p.add_argument("--hours", type=int, default=2)
    p.set_defaults(run=sas)

    args = parser.parse_args()
    args.run(service(args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
