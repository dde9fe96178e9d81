"""The one place that builds the speech unit's store, clients and servicers.

Built so far: the LLM path (LlmService). ChatService, SpeechService and
ConversationAdminService are not returned, so they answer UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from services.common.bootstrap import Resources, UnitSpec
from services.speech.llm.cache import cache_from_settings
from services.speech.llm.echo import ECHO_MODEL, ECHO_PROVIDER, EchoProvider
from services.speech.llm.metrics import LlmMetrics
from services.speech.llm.openai import OPENAI_DEFAULT_MODEL, OPENAI_PROVIDER, OpenAiProvider
from services.speech.llm.providers import Providers
from services.speech.llm.servicer import LlmServicer


async def build(resources: Resources) -> Mapping[str, object]:
    """Servicers by service full name; services not listed answer UNIMPLEMENTED."""
    settings = resources.settings
    # One HTTP session (one connection pool) for every provider call of this unit.
    session = aiohttp.ClientSession()
    resources.stack.push_async_callback(session.close)
    # LLM_MODEL is the default provider's model; the other provider keeps its own default.
    configured = settings.llm_model
    providers = Providers(
        [
            EchoProvider(configured if settings.llm_provider == ECHO_PROVIDER and configured else ECHO_MODEL),
            OpenAiProvider(
                session, settings.openai_base_url, settings.openai_api_key,
                configured if settings.llm_provider == OPENAI_PROVIDER and configured else OPENAI_DEFAULT_MODEL,
            ),
        ],
        default=settings.llm_provider,
    )
    cache = cache_from_settings(settings)
    resources.stack.push_async_callback(cache.aclose)
    servicer = LlmServicer(providers, cache, LlmMetrics(resources.registry), settings.llm_timeout)
    return {"agentmesh.v1.LlmService": servicer}


SPEC = UnitSpec(name="speech", build=build)
