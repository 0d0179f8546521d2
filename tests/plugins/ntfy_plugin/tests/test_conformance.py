"""meshploy-ntfy runs Meshploy's notifier conformance suite."""

import pytest

from meshploy_core.testing.conformance import NotifierConformance
from meshploy_ntfy import NtfyConfig, NtfyFactory


class TestNtfy(NotifierConformance):
    @pytest.fixture
    def notifier_factory(self):
        return NtfyFactory()

    @pytest.fixture
    def valid_config(self, http_receiver):
        return NtfyConfig(url=http_receiver.url + "/alerts", token="tk_0123456789abcdef")

    @pytest.fixture
    def unreachable_config(self, closed_url):
        return NtfyConfig(url=closed_url, token="tk_0123456789abcdef")

    @pytest.fixture
    def delivered(self, http_receiver):
        return lambda: [
            r.headers.get("Title", "") + " " + r.body.decode() for r in http_receiver.requests
        ]
