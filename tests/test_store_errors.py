"""The one line a store that cannot be used gets: what went wrong, and what to set."""

from __future__ import annotations

import pytest

from mmrag.store.connect import explain


@pytest.mark.parametrize("port", [40312, 14030, 9000])
def test_an_unreachable_endpoint_is_not_access_denied_whatever_its_port(
    monkeypatch: pytest.MonkeyPatch, port: int
) -> None:
    """The endpoint's port is part of the error text; 40312 holds "403", which once
    read as an HTTP 403 and sent the user to check their keys."""
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    refused = OSError(
        f"Generic S3 error: Error after 0 retries in 1ms: error sending request for url "
        f"({endpoint}/bucket/store/nodes.lance/_versions/): tcp connect error: "
        "Connection refused (os error 111)"
    )
    assert str(explain("s3://bucket/store", refused)) == (
        f"cannot use store s3://bucket/store: cannot reach {endpoint}; check "
        "AWS_ENDPOINT_URL, AWS_DEFAULT_REGION and the network"
    )
    denied = OSError(f"Client error with status 403 Forbidden: {endpoint}/bucket/store")
    assert "access denied" in str(explain("s3://bucket/store", denied))
