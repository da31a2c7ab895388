"""Prometheus series of the assistant (``tandem_assistant_*``), on the default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

REQUESTS = Counter("tandem_assistant_requests_total", "Assist requests, by outcome", ["outcome"])
QUEUE_DEPTH = Gauge("tandem_assistant_queue_depth", "Assist jobs waiting or in flight")
QUEUE_SECONDS = Histogram(
    "tandem_assistant_queue_seconds", "From request to a worker starting it", buckets=_SECONDS
)
FIRST_TOKEN_SECONDS = Histogram(
    "tandem_assistant_first_token_seconds",
    "From a worker starting a suggestion to the model's first text",
    buckets=_SECONDS,
)
TOTAL_SECONDS = Histogram(
    "tandem_assistant_total_seconds",
    "From a worker starting a suggestion to its end",
    buckets=_SECONDS,
)
SUGGESTIONS = Counter(
    "tandem_assistant_suggestions_total", "Suggestions a worker finished, by status", ["status"]
)
MODEL_ERRORS = Counter(
    "tandem_assistant_model_errors_total", "Model calls that failed, by kind", ["kind"]
)
DECISIONS = Counter("tandem_assistant_decisions_total", "Decisions on suggestions", ["action"])
UNRESTORABLE = Counter(
    "tandem_assistant_unrestorable_total",
    "Proposals holding placeholders for secrets that could not be put back",
)
REDACTIONS = Counter(
    "tandem_assistant_redactions_total", "Secrets redacted from prompts, by kind", ["kind"]
)

ANSWERS = Counter(
    "tandem_thread_answers_total", "Answers in threads a worker ended, by status", ["status"]
)
ANSWER_QUEUE_SECONDS = Histogram(
    "tandem_thread_answer_queue_seconds",
    "From a message asking the assistant to a worker starting the answer",
    buckets=_SECONDS,
)
ANSWER_FIRST_TEXT_SECONDS = Histogram(
    "tandem_thread_answer_first_text_seconds",
    "From a worker starting an answer to its first visible text (prompt and retrieval included)",
    buckets=_SECONDS,
)
ANSWER_SECONDS = Histogram(
    "tandem_thread_answer_seconds", "From a worker starting an answer to its end", buckets=_SECONDS
)
ANSWER_TOKENS = Counter(
    "tandem_thread_answer_tokens_total",
    "Tokens of answers' model calls, as the model reports them, by kind",
    ["kind"],
)
RETRIEVAL_SECONDS = Histogram(
    "tandem_thread_retrieval_seconds",
    "Retrieving the workspace's passages for an answer",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
