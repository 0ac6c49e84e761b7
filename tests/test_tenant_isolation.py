"""Every URL that takes an object id answers 404 when the object belongs to another tenant.

The walk covers every URL pattern of the project. A new pattern with an id argument fails this
test until its argument is registered in ``OBJECT_OF_TENANT`` below, so isolation is never
forgotten for a new page or endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from assistant.models import IntentExample, IntentModelVersion, TenantIntent
from governance import invitation_services, services
from governance.models import Role, Tenant
from governance.services import Actor
from governance.tests.factories import AccessGroupFactory, MembershipFactory
from ingest.tests.factories import DocumentFactory

# Django's own admin is for operators (superusers) across tenants, not for tenant users.
OPERATOR_ONLY_NAMESPACES = {"admin"}

# URL keyword argument -> how to make an object of that kind in a given tenant (returns its id).
OBJECT_OF_TENANT: dict[str, Callable[[Tenant], Any]] = {
    "api_key_id": lambda tenant: (
        services.api_key_create(tenant=tenant, name="other", scopes=["ask"], actor=Actor())[0].pk
    ),
    "group_id": lambda tenant: AccessGroupFactory.create(tenant=tenant).pk,
    "document_id": lambda tenant: DocumentFactory.create(tenant=tenant).pk,
    "question_id": lambda tenant: _question_in(tenant).pk,
    "message_id": lambda tenant: _answer_in(tenant).pk,
    "citation_id": lambda tenant: _citation_in(tenant).pk,
    "conversation_id": lambda tenant: _question_in(tenant).conversation_id,
    "membership_id": lambda tenant: MembershipFactory.create(tenant=tenant).pk,
    # Another tenant's invitation, addressed to someone else (the invited person may answer theirs).
    "invitation_id": lambda tenant: (
        invitation_services.member_invite(
            tenant=tenant, invitee="someone.else@example.com", role=Role.MEMBER, actor=Actor()
        )[0].pk
    ),
    "example_id": lambda tenant: (
        IntentExample.objects.create(tenant=tenant, text="theirs", label="search").pk
    ),
    "intent_name": lambda tenant: TenantIntent.objects.create(tenant=tenant, name="theirs", reply="x").name,
    "version_number": lambda tenant: IntentModelVersion.objects.create(tenant=tenant, number=7).number,
    # OpenAI-compatible /v1/models/<id>: no tenant owns a model (each has the one "tessera"), so
    # another tenant can only name an id that is not "tessera".
    "model_id": lambda tenant: f"model-of-{tenant.slug}",
}


def _question_in(tenant: Tenant) -> Any:
    from assistant.answering.questions import question_ask
    from governance.access import principal_for_membership

    owner = principal_for_membership(MembershipFactory.create(tenant=tenant, role=Role.OWNER))
    return question_ask(principal=owner, question="What is the leave policy?")


def _answer_in(tenant: Tenant) -> Any:
    from assistant.models import Message

    question = _question_in(tenant)
    return Message.objects.create(
        tenant=tenant,
        conversation=question.conversation,
        role="assistant",
        reply_to=question,
        text="Yes [1].",
    )


def _citation_in(tenant: Tenant) -> Any:
    from assistant.models import Citation

    return Citation.objects.create(tenant=tenant, message=_answer_in(tenant), marker=1, title="Handbook")


def _walk(patterns: list[Any], namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            if ns in OPERATOR_ONLY_NAMESPACES:
                continue
            yield from _walk(entry.url_patterns, f"{namespace}{ns}:" if ns else namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry


def patterns_with_ids() -> list[tuple[str, list[str]]]:
    found = []
    for name, pattern in _walk(get_resolver().url_patterns):
        kwargs = sorted(pattern.pattern.converters) if hasattr(pattern.pattern, "converters") else []
        if kwargs:
            found.append((name, kwargs))
    return found


def test_every_id_argument_is_registered():
    unknown = {kw for _, kwargs in patterns_with_ids() for kw in kwargs} - set(OBJECT_OF_TENANT)
    assert not unknown, f"register these URL arguments in OBJECT_OF_TENANT: {sorted(unknown)}"
    assert patterns_with_ids(), "the walk found no URL with an id: is the resolver walked?"


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kwargs"), patterns_with_ids())
def test_other_tenants_objects_are_404(client, member_of, tenant_factory, name, kwargs):
    mine, theirs = tenant_factory(), tenant_factory()
    client.force_login(member_of(mine, role=Role.OWNER))  # the strongest role in its own tenant
    url = reverse(name, kwargs={kw: OBJECT_OF_TENANT[kw](theirs) for kw in kwargs})
    statuses = {method: getattr(client, method)(url).status_code for method in ("get", "post")}
    # 405 (a method the view never takes) reveals nothing; every other answer must be a 404.
    assert set(statuses.values()) <= {404, 405}, f"{url}: {statuses}"
    assert 404 in statuses.values(), f"{url}: {statuses}"
