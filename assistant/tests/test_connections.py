"""The operator's LLM connections as read from the environment: malformed ones fail at start-up."""

from __future__ import annotations

import pytest

from assistant.answering.llm.connections import ConnectionConfigError, llm_connections

SITE = {"LLM_PROVIDER": "local", "LLM_MODEL": "qwen"}


def test_the_built_in_connections_and_the_operators_are_offered_in_order():
    found = llm_connections(
        SITE
        | {"LLM_CONNECTIONS": {"vllm": {"base_url": "https://vllm.example.com/v1", "models": ["a", "b"]}}},
        local_models=("qwen",),
    )
    assert list(found) == ["", "local", "extractive", "vllm"]
    assert (found[""].provider, found[""].default_model) == ("local", "qwen")
    assert (found["vllm"].provider, found["vllm"].default_model, found["vllm"].allows_model("c")) == (
        "openai",
        "a",
        False,
    )


def test_the_openai_provider_without_a_url_means_openais_own_server():
    found = llm_connections({"LLM_PROVIDER": "openai", "LLM_API_KEY_ENV": "OPENAI_API_KEY"}, local_models=())
    assert found[""].base_url == "https://api.openai.com/v1" and found[""].api_key_env == "OPENAI_API_KEY"


@pytest.mark.parametrize(
    ("connections", "message"),
    [
        ([], "JSON object"),
        ({"Bad Name": {"base_url": "https://x.example/v1"}}, "lower-case"),
        ({"local": {"base_url": "https://x.example/v1"}}, "not local or extractive"),
        ({"x": {"base_url": "ftp://x.example/v1"}}, "http"),
        ({"x": {"base_url": "https://u:p@x.example/v1"}}, "credentials"),
        ({"x": {"base_url": "https://x.example/v1", "api_key_env": "sk-123 key"}}, "NAME"),
        ({"x": {"base_url": "https://x.example/v1", "models": "gpt"}}, "list of model names"),
        ({"x": {"base_url": "https://x.example/v1", "tenant_key": True, "api_key_env": "K"}}, "excludes"),
        ({"x": {"base_url": "https://x.example/v1", "password": "p"}}, "keys"),
    ],
)
def test_a_malformed_connection_is_refused_with_the_reason(connections, message):
    with pytest.raises(ConnectionConfigError, match=message):
        llm_connections(SITE | {"LLM_CONNECTIONS": connections}, local_models=())


def test_an_unknown_site_provider_is_refused():
    with pytest.raises(ConnectionConfigError, match="TESSERA_LLM_PROVIDER"):
        llm_connections({"LLM_PROVIDER": "skynet"}, local_models=())
