"""The DSPy classes behind ``make_lm`` (this module imports dspy; ``lmprog.lm`` imports it lazily)."""

from __future__ import annotations

from lmprog.lm.env import prepare_environment

prepare_environment()

import dspy  # noqa: E402
from dspy.clients.engines.litellm_engine import LiteLLMEngine  # noqa: E402
from dspy.utils.exceptions import LMError  # noqa: E402

from lmprog.errors import LmprogError  # noqa: E402
from lmprog.ledger import Ledger  # noqa: E402
from lmprog.lm.context import CallContext, current_call  # noqa: E402


class LedgeredLM(dspy.LM):
    """A ``dspy.LM`` whose engine is a :class:`~lmprog.lm.engine.LedgerEngine`.

    It tells the engine which call and rollout a request belongs to (a DSPy Request does not
    carry them), and re-raises lmprog's own errors (a replay miss, a budget stop) unwrapped.
    """

    def __call__(self, *args, **kwargs):
        token = current_call.set(CallContext(rollout_id=kwargs.get("rollout_id", self.kwargs.get("rollout_id"))))
        try:
            return super().__call__(*args, **kwargs)
        except LMError as exc:
            _reraise_lmprog_cause(exc)
            raise
        finally:
            current_call.reset(token)

    async def acall(self, *args, **kwargs):
        token = current_call.set(CallContext(rollout_id=kwargs.get("rollout_id", self.kwargs.get("rollout_id"))))
        try:
            return await super().acall(*args, **kwargs)
        except LMError as exc:
            _reraise_lmprog_cause(exc)
            raise
        finally:
            current_call.reset(token)

    @property
    def ledger(self) -> Ledger:
        return self._engine_spec.ledger

    @property
    def ledger_engine(self):
        """The :class:`~lmprog.lm.engine.LedgerEngine` (shared by this LM's copies)."""
        return self._engine_spec


def _reraise_lmprog_cause(exc: BaseException) -> None:
    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, LmprogError):
            raise seen from None
        seen = seen.__cause__ or seen.__context__


class OpenAICompatibleEngine(LiteLLMEngine):
    """LiteLLM with ``max_tokens`` for self-hosted servers reached through ``api_base``.

    DSPy sends ``max_completion_tokens``, which llama.cpp's server ignores (outputs then run to
    thousands of tokens), so it is renamed to ``max_tokens``.
    """

    def _arguments(self, request, *, streaming=False):
        data = super()._arguments(request, streaming=streaming)
        if "max_completion_tokens" in data and "max_tokens" not in data:
            data["max_tokens"] = data.pop("max_completion_tokens")
        return data
