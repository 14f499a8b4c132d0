"""API keys over the API: owners manage their publication's keys; a key can describe itself."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from membership.apikeys.models import ApiKey
from membership.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from membership.apikeys.services import ApiKeyService
from membership.publications.access import staff_publication
from membership.publications.models import Publication
from membership.readers.models import Reader


class PublicationApiKeys(Controller):
    path = "/api/publications/{slug:str}/api-keys"
    tags = ["api keys"]
    dependencies = {"publication": staff_publication(owner=True)}

    @post("/", summary="Create an API key (owners only); the secret is shown once")
    async def create_key(
        self,
        data: JSONBody[ApiKeyCreate],
        reader: NamedDependency[Reader],
        publication: NamedDependency[Publication],
        api_keys: NamedDependency[ApiKeyService],
    ) -> ApiKeyCreated:
        key, secret = await api_keys.create(
            data.name, data.scopes, publication_id=publication.id, created_by_id=reader.id
        )
        return ApiKeyCreated(key=ApiKeyOut.of(key), secret=secret)

    @get("/", summary="A publication's API keys (owners only; no secrets)")
    async def list_keys(
        self, publication: NamedDependency[Publication], api_keys: NamedDependency[ApiKeyService]
    ) -> list[ApiKeyOut]:
        return [ApiKeyOut.of(k) for k in await api_keys.list_for(publication.id)]

    @delete("/{key_id:uuid}", summary="Revoke an API key (owners only)")
    async def revoke_key(
        self,
        key_id: FromPath[UUID],
        publication: NamedDependency[Publication],
        api_keys: NamedDependency[ApiKeyService],
    ) -> None:
        await api_keys.revoke(key_id, publication.id)


class ServiceKeyApi(Controller):
    path = "/api/service"
    tags = ["api keys"]

    @get("/key", summary="The API key making this call: its name, scopes and publication")
    async def current_key(self, api_key: NamedDependency[ApiKey]) -> ApiKeyOut:
        return ApiKeyOut.of(api_key)
