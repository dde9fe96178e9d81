"""The one place that builds the speech unit's store, clients and servicers."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from services.common.bootstrap import Resources, UnitSpec
from services.common.channels import unit_channel
from services.common.events.publisher import publisher_from_settings
from services.common.usage import UsageReporter
from services.speech.audio import limits as audio_limits
from services.speech.audio.cache import AudioResults, audio_store
from services.speech.audio.metrics import SpeechMetrics
from services.speech.audio.servicer import LlmAnswerer, SpeechServicer
from services.speech.audio.stt import RecognizerPool
from services.speech.audio.tts import Synthesizer
from services.speech.chat.commands import BotCommands
from services.speech.chat.schema import MIGRATIONS
from services.speech.chat.servicer import ChatServicer, ConversationAdminServicer
from services.speech.chat.settings import BotSettings
from services.speech.chat.store import Conversations
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
    conversations = Conversations(resources.db)
    events = publisher_from_settings(settings, resources.credentials)
    resources.stack.push_async_callback(events.aclose)
    usage = UsageReporter(settings, resources.credentials)
    resources.stack.push_async_callback(usage.aclose)
    llm = LlmServicer(providers, cache, LlmMetrics(resources.registry), settings.llm_timeout, conversations, usage)
    # SpeechService: espeak-ng and pocketsphinx on this host, results cached like the LLM's, the full round
    # trip answered by the LlmService above.
    speech_metrics = SpeechMetrics(resources.registry)
    synthesizer = await Synthesizer.discover(
        audio_limits.Gate("text to speech", audio_limits.TTS_CONCURRENCY, audio_limits.MAX_QUEUED), speech_metrics
    )
    recognizer = RecognizerPool(speech_metrics)
    resources.stack.push_async_callback(recognizer.aclose)
    audio_results = AudioResults(audio_store(settings), speech_metrics)
    resources.stack.push_async_callback(audio_results.aclose)
    speech = SpeechServicer(synthesizer, recognizer, audio_results, LlmAnswerer(llm))
    # The chat's bot commands and configuration are the admin unit's (BotAdminService).
    admin = unit_channel(settings, "admin")
    resources.stack.push_async_callback(admin.close)
    commands = BotCommands(admin, resources.credentials)
    bot = BotSettings(admin, resources.credentials)
    return {
        "agentmesh.v1.LlmService": llm,
        "agentmesh.v1.SpeechService": speech,
        "agentmesh.v1.ChatService": ChatServicer(conversations, llm, events, audio=speech, commands=commands,
                                                     bot=bot),
        "agentmesh.v1.ConversationAdminService": ConversationAdminServicer(conversations),
    }


SPEC = UnitSpec(name="speech", build=build, migrations=MIGRATIONS)
