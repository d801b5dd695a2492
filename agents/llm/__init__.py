"""The only package that imports litellm. Every model call, simulated or real, goes through `acomplete` (or
`complete`, which waits for it).

Importing it costs seconds (litellm), so the web process never imports it at start-up: the runtime and the
judge panel import it where a model is called. Its modules, by role:

- calls.py: `acomplete`, one `litellm.acompletion` call (streamed for real models) on this process's loop, its key
  and its checks; `complete`, the same for code that waits for the answer;
  `probe`, the one tiny call of a profile's "Test connection".
- retry.py: which failures are retried (429 with Retry-After, 5xx, timeouts, malformed replies) and when.
- redaction.py: keys out of error messages and of every log record.
- model_info.py: a profile's litellm model string, native tool support and context window; models litellm
  does not know (`register_models`, SWARM_LLM_MODELS_FILE).
- text_protocol.py: tool calls as `<tool_call>{...}</tool_call>` blocks, for models without native tools.
- compaction.py: older tool outputs shortened when a prompt nears the context window.
- simulator_provider.py: the litellm provider `sim/<behaviour>` that reaches the offline simulator.
- turn.py: what a call returns (Turn, ToolCall).
"""

import os

# litellm downloads its cost map at import unless told otherwise: Swarm never needs the internet.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agents.llm.calls import ModelError, ModelRefused, acomplete, complete, probe  # noqa: E402
from agents.llm.compaction import COMPACTED_MARK, compact, estimate_tokens  # noqa: E402
from agents.llm.model_info import TEXT_TOOLS, context_budget, native_tools, register_models  # noqa: E402
from agents.llm.redaction import redact  # noqa: E402
from agents.llm.simulator_provider import SimulatorProvider  # noqa: E402
from agents.llm.turn import ToolCall, Turn  # noqa: E402

__all__ = [
    "COMPACTED_MARK",
    "TEXT_TOOLS",
    "ModelError",
    "ModelRefused",
    "SimulatorProvider",
    "ToolCall",
    "Turn",
    "acomplete",
    "compact",
    "complete",
    "context_budget",
    "estimate_tokens",
    "native_tools",
    "probe",
    "redact",
    "register_models",
]
