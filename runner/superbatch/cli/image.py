"""``superbatch image build|push|import|list``: bundle code into an image, store it in the
stack's registry, or copy a public image there.

Thin over :mod:`superbatch.images`: parse, call, render. Engine progress goes to stderr;
the result (the image reference to put in a job spec) to stdout, or JSON with ``--json``.
Azure SDKs are imported inside the commands that need them, so ``--help`` stays fast.
"""

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from superbatch.cli import options
from superbatch.errors import ConfigError

if TYPE_CHECKING:
    from superbatch.engine import Engine
    from superbatch.images.tokens import TokenCredential

image_app = typer.Typer(
    name="image",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Build, push, import and list container images (immutable tags, no admin passwords).",
)

EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine", metavar="ENGINE", help="docker or podman (default: the first that works)."
    ),
]
StackOption = options.Stack
OutputsOption = options.Outputs
RegistryOption = Annotated[
    str | None,
    typer.Option("--registry", metavar="HOST", help="Registry host, e.g. myacr.azurecr.io."),
]
JsonOption = options.Json


def registry_host(stack: str | None, outputs: Path | None, registry: str | None) -> str:
    """The registry login server from exactly one of --stack, --outputs, --registry."""
    given = [
        name
        for name, value in (("--stack", stack), ("--outputs", outputs), ("--registry", registry))
        if value
    ]
    if len(given) != 1:
        raise ConfigError(
            "say which registry: give exactly one of --stack NAME, --outputs FILE, --registry HOST"
        )
    if registry:
        host = registry.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not host or "/" in host:
            raise ConfigError(f"--registry {registry!r}: give a host like myacr.azurecr.io")
        return host
    from superbatch.azure.outputs import load_stack_outputs  # the one loader `run` uses too

    return load_stack_outputs(stack=stack, outputs_file=outputs).registry_login_server


def build_context(directory: Path | None) -> Path:
    """The folder to build (default: ./container, else .), checked to hold a Dockerfile."""
    from superbatch.images.build import default_context

    context = directory or default_context(Path.cwd())
    hint = "give the folder that holds your Dockerfile (superbatch image build DIR)"
    if not context.exists():
        raise ConfigError(f"folder {context} does not exist: {hint}")
    if not context.is_dir():
        raise ConfigError(f"{context} is a file, not a folder: {hint}")
    if not (context / "Dockerfile").is_file():
        raise ConfigError(f"no Dockerfile in {context}: {hint}")
    return context


def _engine(preferred: str | None) -> "Engine":
    from superbatch.engine import find_engine

    engine = find_engine(preferred)
    if engine is None:
        raise ConfigError(
            "no container engine answers: install docker or podman (or choose one with --engine)"
        )
    return engine


def _credential() -> "TokenCredential":
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def _build_args(values: list[str]) -> dict[str, str]:
    args: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--build-arg {item!r}: use KEY=VALUE")
        args[key] = value
    return args


def _emit(payload: dict[str, Any], text: str, *, as_json: bool) -> None:
    typer.echo(json.dumps(payload, indent=2) if as_json else text)


BUILD_EXAMPLES = """Examples:

\b
  superbatch image build                        # ./container, else the current folder
  superbatch image build container --platform linux/amd64
"""
PUSH_EXAMPLES = """Examples:

\b
  superbatch image push --stack dev             # build the project's image, then push it
  superbatch image push wordcount:1a2b3c4d5e6f --registry myacr.azurecr.io
"""


@image_app.command("build", epilog=BUILD_EXAMPLES)
def build(
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR", help="Build context with a Dockerfile (default: ./container, else .)."
        ),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option("--tag", metavar="TAG", help="Tag to use instead of the content tag."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", metavar="NAME", help="Repository name (default: the folder's name)."
        ),
    ] = None,
    build_arg: Annotated[
        list[str] | None,
        typer.Option("--build-arg", metavar="KEY=VALUE", help="Repeatable; part of the tag."),
    ] = None,
    platform: Annotated[
        str | None,
        typer.Option(
            "--platform", metavar="PLATFORM", help="Target, e.g. linux/amd64 (what Batch VMs run)."
        ),
    ] = None,
    engine: EngineOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build an image; its default tag is derived from the content, so it never goes stale."""
    from superbatch.images.build import build_image

    build_args = _build_args(build_arg or [])
    context = build_context(directory)
    built = build_image(
        _engine(engine),
        context,
        name=name,
        tag=tag,
        build_args=build_args,
        platform=platform,
        output=sys.stderr,
    )
    payload = {"image": built.ref, "id": built.image_id, "created": built.created}
    _emit(payload, built.ref, as_json=as_json)


@image_app.command("push", epilog=PUSH_EXAMPLES)
def push(
    image: Annotated[
        str | None,
        typer.Argument(
            metavar="IMAGE", help="Local image name:tag (default: build the project's image first)."
        ),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", metavar="DIR", help="Build context when IMAGE is not given."),
    ] = None,
    stack: StackOption = None,
    outputs: OutputsOption = None,
    registry: RegistryOption = None,
    engine: EngineOption = None,
    az_login: Annotated[
        bool, typer.Option("--az-login", help="Log the engine in with `az acr login` instead.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Push an image to the stack's registry, signing in with your Entra identity."""
    from superbatch.images.build import build_image, push_image
    from superbatch.images.registry import connect
    from superbatch.images.tokens import az_acr_login, engine_login

    login_server = registry_host(stack, outputs, registry)
    chosen = _engine(engine)
    if image is None:
        image = build_image(chosen, build_context(directory), output=sys.stderr).ref
    client, refresh_token = connect(login_server, _credential())
    if refresh_token is not None:
        if az_login:
            az_acr_login(login_server)
        else:
            engine_login(chosen, login_server, refresh_token)
    pushed = push_image(chosen, image, login_server, registry=client, output=sys.stderr)
    payload = {
        "image": pushed.remote_ref,
        "digest": pushed.digest,
        "pinned": pushed.pinned_ref,
        "pushed": pushed.pushed,
    }
    note = "" if pushed.pushed else " (already in the registry)"
    _emit(payload, f"{pushed.remote_ref}{note}\n{pushed.pinned_ref}", as_json=as_json)


IMPORT_EXAMPLES = """Examples:

\b
  superbatch image import docker.io/library/busybox:1.36 --stack dev
  # -> busybox:1.36 (put it in the job spec: image = "busybox:1.36")
  superbatch image import ghcr.io/org/tool:2.1 --as tool:2.1 --stack dev
"""


@image_app.command("import", epilog=IMPORT_EXAMPLES)
def import_(
    source: Annotated[
        str,
        typer.Argument(
            metavar="REF", help="Full reference with registry and tag, e.g. docker.io/library/x:1."
        ),
    ],
    stack: StackOption = None,
    outputs: OutputsOption = None,
    as_name: Annotated[
        str | None,
        typer.Option("--as", metavar="NAME:TAG", help="Name in the stack's registry."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a public image into the stack's registry (server-side), pinned by digest.

    Nodes then pull it from the stack's registry with their identity, not from Docker Hub
    (anonymous pulls are limited). Needs the 'Container Registry Data Importer and Data
    Reader' role on the registry, which `pulumi up` grants the deploying user.
    """
    from superbatch.azure.outputs import load_stack_outputs
    from superbatch.images.importer import import_image, import_source, import_target
    from superbatch.images.registry import connect

    import_target(import_source(source), as_name)  # bad input: refused before anything
    if bool(stack) == bool(outputs):
        raise ConfigError("say which stack: give exactly one of --stack NAME, --outputs FILE")
    stack_outputs = load_stack_outputs(stack=stack, outputs_file=outputs)
    credential = _credential()
    client, _ = connect(stack_outputs.registry_login_server, credential)
    imported = import_image(
        source, stack_outputs, credential=credential, registry=client, name=as_name
    )
    payload = {
        "source": imported.source,
        "image": imported.image,
        "digest": imported.digest,
        "pinned": imported.pinned_ref,
        "imported": imported.imported,
    }
    note = "" if imported.imported else " (already in the registry)"
    _emit(payload, f"{imported.image}{note}\n{imported.pinned_ref}", as_json=as_json)


@image_app.command("list")
def list_images(
    repository: Annotated[
        str | None, typer.Argument(metavar="REPOSITORY", help="Only this repository.")
    ] = None,
    stack: StackOption = None,
    outputs: OutputsOption = None,
    registry: RegistryOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the repositories and tags in the stack's registry."""
    from superbatch.images.registry import connect

    login_server = registry_host(stack, outputs, registry)
    client, _ = connect(login_server, _credential())
    repositories = [repository] if repository else client.list_repositories()
    found = {repo: sorted(client.list_tags(repo)) for repo in sorted(repositories)}
    if as_json:
        typer.echo(json.dumps({"registry": login_server, "repositories": found}, indent=2))
        return
    lines = [f"{login_server}/{repo}:{tag}" for repo, tags in found.items() for tag in tags]
    typer.echo("\n".join(lines) if lines else f"no images in {login_server}")
