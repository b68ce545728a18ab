"""Image names in job specs: short names resolve to the stack's registry; pins are required."""

from __future__ import annotations

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


def test_the_pool_prefetch_list_resolves_names_the_same_way() -> None:
    """infra/ resolves the stack config's prefetch images itself; both must agree."""
    from infra.pool import resolve_image_reference

    for name in ["wordcount:1a2b3c", "team/wc:2", "other.azurecr.io/wc:2", "localhost:5000/wc:3"]:
        assert resolve_image_reference(name, ACR) == resolve_image(name, ACR)
