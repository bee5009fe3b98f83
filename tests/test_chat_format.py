"""Chat format on the real Llama 3 tokenizer and SmolLM2's ChatML one: template, eos, pad, masks, BOS."""

import pytest

from medchat.chat_format import (
    LLAMA3_CHAT_TEMPLATE,
    encode_with_assistant_mask,
    training_chat_template,
)

CONVERSATION = [
    {"role": "system", "content": "You are a careful medical assistant."},
    {"role": "user", "content": "I have had a sore throat for three days."},
    {"role": "assistant", "content": "That sounds like a viral throat infection. Rest and drink fluids."},
    {"role": "user", "content": "And if it gets worse?"},
    {"role": "assistant", "content": "See a doctor if you cannot swallow or have a high fever."},
]


@pytest.fixture()
def llama3(llama3_tokenizer, prepared_tokenizer):
    return prepared_tokenizer(llama3_tokenizer)


@pytest.fixture()
def chatml(smollm2_tokenizer, prepared_tokenizer):
    return prepared_tokenizer(smollm2_tokenizer)


def assistant_text(tokenizer, ids, mask):
    return tokenizer.decode([token for token, keep in zip(ids, mask) if keep])


def test_llama3_gets_official_template_eot_and_a_pad_that_is_not_eos(llama3):
    assert llama3.chat_template == LLAMA3_CHAT_TEMPLATE
    assert llama3.eos_token == "<|eot_id|>"
    assert llama3.pad_token not in ("<|eot_id|>", "<|end_of_text|>")
    assert len(llama3) == 128256  # no added tokens, so no embedding resize


def test_llama3_masks_cover_exactly_the_replies_and_their_eot(llama3):
    ids, mask = encode_with_assistant_mask(llama3, CONVERSATION)
    assert ids.count(llama3.convert_tokens_to_ids("<|begin_of_text|>")) == 1  # no double BOS
    assert assistant_text(llama3, ids, mask) == (
        "That sounds like a viral throat infection. Rest and drink fluids.<|eot_id|>"
        "See a doctor if you cannot swallow or have a high fever.<|eot_id|>"
    )


def test_stock_llama3_template_gives_empty_masks_which_we_fix(llama3):
    stock = llama3.apply_chat_template(CONVERSATION, tokenize=True, return_dict=True,
                                       return_assistant_tokens_mask=True)
    assert not any(stock["assistant_masks"])  # the problem: the stock template marks nothing
    training = training_chat_template(llama3)
    assert llama3.apply_chat_template(CONVERSATION, tokenize=False) == llama3.apply_chat_template(
        CONVERSATION, tokenize=False, chat_template=training)


def test_chatml_masks_and_eos(chatml):
    assert chatml.eos_token == "<|im_end|>"
    assert chatml.pad_token != chatml.eos_token
    ids, mask = encode_with_assistant_mask(chatml, CONVERSATION)
    assert assistant_text(chatml, ids, mask) == (
        "That sounds like a viral throat infection. Rest and drink fluids.<|im_end|>"
        "See a doctor if you cannot swallow or have a high fever.<|im_end|>"
    )
    # the user turns are never in the loss
    assert "sore throat" not in assistant_text(chatml, ids, mask)


def test_chatml_training_template_renders_like_stock_without_system_prompt(chatml):
    no_system = CONVERSATION[1:3]
    training = training_chat_template(chatml)
    for add_generation_prompt in (False, True):
        messages = no_system[:1] if add_generation_prompt else no_system
        assert chatml.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt) == \
            chatml.apply_chat_template(messages, tokenize=False, chat_template=training,
                                       add_generation_prompt=add_generation_prompt)


def test_unknown_template_without_markers_is_refused(chatml):
    chatml.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ValueError, match="generation"):
        training_chat_template(chatml)


def test_generation_config_stops_on_end_of_turn(llama3_tokenizer, prepared_tokenizer):
    """A model prepared with the Llama 3 tokenizer stops on <|eot_id|> as well as <|end_of_text|>."""
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, vocab_size=len(llama3_tokenizer)))
    prepared_tokenizer(llama3_tokenizer, model)
    assert {128009, 128001} <= set(model.generation_config.eos_token_id)
    assert model.generation_config.pad_token_id not in model.generation_config.eos_token_id
