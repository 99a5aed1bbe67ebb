"""OpenAI chat fine-tuning examples: conversion from canonical turns and a validator.

The validator follows OpenAI's published rules for chat fine-tuning data ("Preparing your
dataset" and the cookbook's format checks): each line is {"messages": [...]}; each message
has a known role and non-empty string content and no other keys than the allowed ones;
every example has an assistant message to learn from; the example fits the model's token
limit. We also require strict alternation after the system message (and an assistant
reply last), because consecutive same-role messages make the training target ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

ROLE_TO_OPENAI = {"seeker": "user", "helper": "assistant", "system": "system"}
ALLOWED_ROLES = ("system", "user", "assistant")
ALLOWED_KEYS = {"role", "content", "name", "weight"}
TOKENS_PER_MESSAGE = 4  # role and separators, as in OpenAI's token-counting guide


def to_openai(turns: list[dict], system_prompt: str) -> dict | None:
    """Merge consecutive same-role turns, put the system prompt first, end on the assistant.

    Returns None when no assistant reply is left (nothing to learn from).
    """
    messages: list[dict] = []
    for turn in turns:
        role = ROLE_TO_OPENAI[turn["role"]]
        if role == "system":
            continue  # the configured system prompt (with the disclaimer) governs
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n" + turn["text"]
        else:
            messages.append({"role": role, "content": turn["text"]})
    while messages and messages[-1]["role"] != "assistant":
        messages.pop()
    if not messages:
        return None
    return {"messages": [{"role": "system", "content": system_prompt}, *messages]}


def example_problems(
    example, max_tokens: int, count_tokens: Callable[[list[str]], list[int]]
) -> list[tuple[str, str]]:
    """(reason, detail) for everything that breaks the format rules; empty when valid.

    `count_tokens` takes all message contents at once, so a tokenizer can batch them.
    """
    if not isinstance(example, dict) or not isinstance(example.get("messages"), list):
        return [("not_messages", "example is not an object with a 'messages' list")]
    messages = example["messages"]
    if not messages:
        return [("no_messages", "messages is empty")]
    problems = []
    contents = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            problems.append(("bad_message", f"message {index} is not an object"))
            continue
        if unknown := set(message) - ALLOWED_KEYS:
            problems.append(("unknown_key", f"message {index} has unrecognized keys {sorted(unknown)}"))
        if message.get("role") not in ALLOWED_ROLES:
            problems.append(("bad_role", f"message {index} has role {message.get('role')!r}"))
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            problems.append(("empty_content", f"message {index} has missing or empty content"))
        else:
            contents.append(content)
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if "system" in roles[1:]:
        problems.append(("late_system", "a system message appears after the first message"))
    dialogue = [r for r in roles if r != "system"]
    if "assistant" not in dialogue:
        problems.append(("no_assistant", "no assistant message to learn from"))
    elif dialogue[-1] != "assistant":
        problems.append(("last_not_assistant", "last message is not from the assistant"))
    if any(a == b for a, b in pairwise(dialogue)):
        problems.append(("not_alternating", "user and assistant messages do not alternate"))
    # every reply is primed with 3 tokens (<|start|>assistant<|message|>)
    tokens = 3 + sum(TOKENS_PER_MESSAGE + n for n in count_tokens(contents)) if contents else 0
    if tokens > max_tokens:
        problems.append(("over_token_limit", f"about {tokens} tokens, over the {max_tokens} limit"))
    return problems
