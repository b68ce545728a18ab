"""Image names in job specs: short names resolve to the stack's registry; pins are required."""

from __future__ import annotations

import json

import pytest

from superbatch.errors import SpecError
from superbatch.images.reference import parse_image_ref
from superbatch.images.resolve import resolve_image, resolve_local_image

ACR = "sbdevacr1a2b3c.azurecr.io"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("wordcount:1a2b3c", f"{ACR}/wordcount:1a2b3c"),
        ("team/wordcount:1a2b3c", f"{ACR}/team/wordcount:1a2b3c"),
        ("wordcount@sha256:" + "a" * 64, f"{ACR}/wordcount@sha256:" + "a" * 64),
        ("other.azurecr.io/wordcount:2", "other.azurecr.io/wordcount:2"),
        ("localhost:5000/wordcount:2", "localhost:5000/wordcount:2"),
        (
            "ghcr.io/org/tool:latest@sha256:" + "b" * 64,
            "ghcr.io/org/tool:latest@sha256:" + "b" * 64,
        ),
    ],
)
def test_resolve_for_azure(name: str, expected: str) -> None:
    assert resolve_image(name, ACR) == expected


def test_local_runs_use_the_name_as_given() -> None:
    assert resolve_local_image("wordcount:1a2b3c") == "wordcount:1a2b3c"
    assert resolve_local_image(f"{ACR}/wordcount:1a2b3c") == f"{ACR}/wordcount:1a2b3c"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("wordcount", "has no tag"),
        ("wordcount:latest", "moving tag"),
        (f"{ACR}/wordcount", "has no tag"),
        ("WordCount:1", "repository 'WordCount' must be lowercase"),
        ("wordcount:-bad", "tag '-bad'"),
        ("wordcount@sha256:short", "digest must look like"),
        ("", "empty"),
    ],
)
def test_bad_names_are_one_clear_line(name: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        resolve_image(name, ACR)
    assert "\n" not in str(caught.value)


def test_reference_parts() -> None:
    ref = parse_image_ref("127.0.0.1:5000/team/app:v1")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "127.0.0.1:5000",
        "team/app",
        "v1",
        None,
    )
    assert ref.reference == "v1"
    assert str(ref) == "127.0.0.1:5000/team/app:v1"


TRICKY = [  # (reference, what the stack's registry resolves it to, or None: refused)
    ("Foo/bar:1", None),  # "Foo" is no host ('.', ':' or localhost): a repository, not lowercase
    ("my_reg.io/a:1", None),  # a host: and hosts have no '_'
    ("[::1]:5000/x:1", "[::1]:5000/x:1"),  # an IPv6 registry with a port
    ("[::1]/x:1", "[::1]/x:1"),
    ("localhost/x:1", "localhost/x:1"),
    ("localhost:5000/team/x:1", "localhost:5000/team/x:1"),
    ("a.b/c:1", "a.b/c:1"),
    ("team/wc:2", f"{ACR}/team/wc:2"),  # no host: the stack's registry
    ("wc__x:2", f"{ACR}/wc__x:2"),
    ("wc:-2", None),
    ("docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36"),
    ("127.0.0.1:5000/x", None),  # no tag
    ("x:latest", None),
]


@pytest.mark.parametrize(("name", "expected"), TRICKY, ids=[name for name, _ in TRICKY])
def test_runner_and_infra_read_image_references_with_one_grammar(
    name: str, expected: str | None
) -> None:
    """The spec's ``image`` (runner) and the stack config's ``prefetchImages`` (infra/) agree."""
    from infra.settings import InvalidSettingError, parse_settings

    if expected is None:
        with pytest.raises(SpecError):
            resolve_image(name, ACR)
        with pytest.raises(InvalidSettingError, match="superbatch:prefetchImages must be"):
            parse_settings({"prefetchImages": json.dumps([name])})
    else:
        assert resolve_image(name, ACR) == expected
        assert parse_settings({"prefetchImages": json.dumps([name])}).prefetch_images == (name,)


def test_the_pool_prefetch_list_is_resolved_by_the_runner_grammar() -> None:
    """infra/pool.py resolves with superbatch.images.resolve itself: no second parser."""
    import inspect

    import infra.pool

    source = inspect.getsource(infra.pool)
    assert "from superbatch.images.resolve import resolve_image" in source
    assert 'partition("/")' not in source
