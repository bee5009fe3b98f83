"""Chat format: the model's own chat template, its end-of-turn token, a safe pad token and assistant-only masks.

Rules, and why:
- Train and serve with the model's own template. A tokenizer without one (the raw Llama 3 tokenizer.json) gets the
  official Meta-Llama-3-Instruct template, never a hand-made format.
- Generation stops on the end-of-turn token (`<|eot_id|>` for Llama 3, `<|im_end|>` for ChatML): it becomes the
  tokenizer's eos and is added to `generation_config.eos_token_id` beside the base eos.
- The pad token must not be an eos token: padding with eos masks the real eos out of the labels and the model never
  learns to stop. We reuse a reserved token of the vocabulary, so no token is added and no embedding is resized.
- Loss on assistant tokens only. The stock Llama 3 and ChatML templates have no `{% generation %}` markers, so
  `return_assistant_tokens_mask` gives all zeros; we swap in a training variant (TRL's for templates it knows, ours
  for ChatML) and accept it only if it renders byte-identical text to the stock template.
- No double BOS: the Llama 3 template writes `<|begin_of_text|>` itself, so rendered text is tokenized without
  special tokens (transformers' `apply_chat_template` does so).
"""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
LLAMA3_CHAT_TEMPLATE = (TEMPLATES / "llama3.jinja").read_text()
CHATML_TRAINING_TEMPLATE = (TEMPLATES / "chatml_training.jinja").read_text()

# End-of-turn tokens of the chat families we know, in order of preference.
END_OF_TURN_TOKENS = ("<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>")
# Vocabulary tokens that are safe to pad with: never produced by a chat template, never an eos.
PAD_CANDIDATES = ("<|finetune_right_pad_id|>", "<|reserved_special_token_0|>", "<|endoftext|>", "<pad>", "<unk>")

# Probe conversations used to prove a training template renders exactly like the stock one.
_PROBES = (
    [{"role": "system", "content": "Be careful."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello there."}],
    [{"role": "user", "content": "Question one?"}, {"role": "assistant", "content": " Answer one. "},
     {"role": "user", "content": "Question two?"}, {"role": "assistant", "content": "Answer\ntwo."}],
)


def vocab_id(tokenizer, token: str) -> int | None:
    """Id of `token` if the vocabulary has it. Not `token in tokenizer.get_vocab()`: that builds the whole
    vocabulary dict, 0.2 s for Llama 3's 128k tokens, on every call."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id and token != tokenizer.unk_token:
        return None
    return token_id


def end_of_turn_token(tokenizer) -> str:
    for token in END_OF_TURN_TOKENS:
        if vocab_id(tokenizer, token) is not None and token in (tokenizer.chat_template or ""):
            return token
    if tokenizer.eos_token is None:
        raise ValueError("The tokenizer has no eos token and no known end-of-turn token; set one in the tokenizer.")
    return tokenizer.eos_token


def _renders_like(tokenizer, candidate: str) -> bool:
    for messages in _PROBES:
        for add_generation_prompt in (False, True):
            probe = messages[:-1] if add_generation_prompt else messages
            stock = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=add_generation_prompt)
            other = tokenizer.apply_chat_template(
                probe, tokenize=False, add_generation_prompt=add_generation_prompt, chat_template=candidate
            )
            if stock != other:
                return False
    return True


def training_chat_template(tokenizer) -> str:
    """A template with `{% generation %}` markers that renders exactly like the tokenizer's own template."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    stock = tokenizer.chat_template
    if has_generation_markers(stock):
        return stock
    candidates = []
    try:
        trl_template = get_training_chat_template(tokenizer)
        if trl_template:
            candidates.append(trl_template)
    except (ValueError, NotImplementedError):
        pass  # TRL does not know this template; try ours below.
    if "<|im_start|>" in stock:
        candidates.append(CHATML_TRAINING_TEMPLATE)
    for candidate in candidates:
        if _renders_like(tokenizer, candidate):
            return candidate
    raise ValueError(
        "No training variant of this model's chat template is known, so assistant-only loss cannot be masked. "
        "Add {% generation %}/{% endgeneration %} around assistant content in the template, or train with "
        "--assistant_only_loss false."
    )


def prepare_tokenizer(tokenizer, model=None):
    """Make a tokenizer (and the model's generation config) chat-ready. Idempotent; adds no tokens."""
    if not tokenizer.chat_template:
        if vocab_id(tokenizer, "<|start_header_id|>") is None:
            raise ValueError("The tokenizer has no chat template; pass an instruct model or set one.")
        tokenizer.chat_template = LLAMA3_CHAT_TEMPLATE
    if tokenizer.bos_token is None and vocab_id(tokenizer, "<|begin_of_text|>") is not None:
        tokenizer.bos_token = "<|begin_of_text|>"
    base_eos = tokenizer.eos_token
    eot = end_of_turn_token(tokenizer)
    tokenizer.eos_token = eot
    eos_tokens = {eot} | ({base_eos} if base_eos else set())
    if vocab_id(tokenizer, "<|end_of_text|>") is not None:
        eos_tokens.add("<|end_of_text|>")

    if tokenizer.pad_token is None or tokenizer.pad_token in eos_tokens:
        for candidate in PAD_CANDIDATES:
            if vocab_id(tokenizer, candidate) is not None and candidate not in eos_tokens:
                tokenizer.pad_token = candidate
                break
        else:
            raise ValueError("No unused token to pad with; add a pad token to the tokenizer before training.")
    tokenizer.padding_side = "right"  # training; generation switches to left padding for batches

    if model is not None:
        eos_ids = sorted({tokenizer.convert_tokens_to_ids(t) for t in eos_tokens})
        model.generation_config.eos_token_id = eos_ids
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.config.pad_token_id = tokenizer.pad_token_id
        if tokenizer.bos_token_id is not None:
            model.generation_config.bos_token_id = tokenizer.bos_token_id
    return tokenizer


def encode_with_assistant_mask(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """Token ids of a whole conversation and a 0/1 mask of the assistant tokens (what the loss is computed on)."""
    encoded = tokenizer.apply_chat_template(
        messages,
        chat_template=training_chat_template(tokenizer),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    mask = list(encoded["assistant_masks"])
    if not any(mask):
        raise ValueError("The assistant mask is empty: the chat template marks no assistant tokens.")
    return list(encoded["input_ids"]), mask
