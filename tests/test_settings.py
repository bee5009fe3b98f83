"""AppSettings.from_env: every MEDCHAT_* variable parsed once, typed, with a clear error for a bad value."""

from __future__ import annotations

import pytest

from medchat.settings import CPU_HISTORY_TOKENS, AppSettings, SettingsError, adapter_system_prompt, public_label


def test_defaults_on_a_cpu_and_on_a_gpu():
    from medchat.data import DEFAULT_SYSTEM_PROMPT
    from medchat.modeling import DEFAULT_ADAPTER

    cpu = AppSettings.from_env({})
    assert cpu.base_model is None and cpu.adapter == DEFAULT_ADAPTER
    assert (cpu.max_input_chars, cpu.max_context_tokens, cpu.concurrency, cpu.max_queue) == (4000, 4096, 1, 32)
    assert cpu.max_history_tokens == CPU_HISTORY_TOKENS and cpu.max_new_tokens_limit == 1024
    assert cpu.system_prompt == DEFAULT_SYSTEM_PROMPT and cpu.fast_decode and cpu.load_in_4bit is None
    gpu = AppSettings.from_env({}, has_gpu=True)
    assert gpu.max_history_tokens is None
    zero = AppSettings.from_env({}, on_zero_gpu=True)
    assert zero.load_in_4bit is False and zero.on_zero_gpu and zero.max_history_tokens is None


def test_values_are_typed():
    s = AppSettings.from_env({
        "MEDCHAT_BASE_MODEL": "meta-llama/Meta-Llama-3-8B-Instruct", "MEDCHAT_ADAPTER": "",
        "MEDCHAT_LOAD_IN_4BIT": "yes", "MEDCHAT_MAX_INPUT_CHARS": "100", "MEDCHAT_MAX_CONTEXT_TOKENS": "512",
        "MEDCHAT_MAX_HISTORY_TOKENS": "0", "MEDCHAT_FAST_DECODE": "0", "MEDCHAT_REVIEW_DB": "",
        "MEDCHAT_SYSTEM_PROMPT": "Be brief.", "MEDCHAT_CONCURRENCY": "2", "MEDCHAT_MAX_QUEUE": "5",
    })
    assert s.base_model == "meta-llama/Meta-Llama-3-8B-Instruct" and s.adapter is None and s.load_in_4bit is True
    assert (s.max_input_chars, s.max_context_tokens, s.max_history_tokens, s.max_new_tokens_limit) == (100, 512, 0, 256)
    assert (s.fast_decode, s.review_db, s.system_prompt, s.concurrency, s.max_queue) == (False, "", "Be brief.", 2, 5)


@pytest.mark.parametrize("name,value,says", [
    ("MEDCHAT_MAX_INPUT_CHARS", "lots", "whole number"),
    ("MEDCHAT_MAX_QUEUE", "0", "at least 1"),
    ("MEDCHAT_MAX_CONTEXT_TOKENS", "10", "at least 64"),
    ("MEDCHAT_LOAD_IN_4BIT", "maybe", "1/0"),
    ("MEDCHAT_FAST_DECODE", "2", "1/0"),
    ("MEDCHAT_RETRIEVAL", "maybe", "quote"),
])
def test_a_bad_value_names_the_variable_and_what_to_set(name, value, says):
    with pytest.raises(SettingsError) as err:
        AppSettings.from_env({"MEDCHAT_ADAPTER": "", name: value})
    assert name in str(err.value) and value in str(err.value) and says in str(err.value)


def test_retrieval_quotes_trusted_sources_by_default_and_takes_the_old_switch_values():
    assert AppSettings.from_env({"MEDCHAT_ADAPTER": ""}).retrieval == "quote" == AppSettings().retrieval
    for value, mode in (("1", "prompt"), ("prompt", "prompt"), ("0", "off"), ("off", "off"), ("Show", "show"),
                        ("quote", "quote")):
        assert AppSettings.from_env({"MEDCHAT_ADAPTER": "", "MEDCHAT_RETRIEVAL": value}).retrieval == mode


def test_the_adapter_recipe_gives_the_system_prompt(tmp_path):
    from medchat.data import DEFAULT_SYSTEM_PROMPT

    nested, top, bare = tmp_path / "nested", tmp_path / "top", tmp_path / "bare"
    for d in (nested, top, bare):
        d.mkdir()
    (nested / "recipe.yaml").write_text("data:\n  system_prompt: |\n    You are a triage nurse.\nsft:\n  learning_rate: 0.001\n")
    (top / "recipe.yaml").write_text("system_prompt: Answer in one line.\n")
    assert adapter_system_prompt(str(nested)) == "You are a triage nurse.\n"
    assert adapter_system_prompt(str(top)) == "Answer in one line."
    assert adapter_system_prompt(str(bare)) is None
    # a Hub id that cannot be reached here (tests run with HF_HUB_OFFLINE=1): the default prompt
    assert adapter_system_prompt("someone/not-reachable-adapter") is None
    env = {"MEDCHAT_BASE_MODEL": "base", "MEDCHAT_ADAPTER": str(nested)}
    assert AppSettings.from_env(env).system_prompt == "You are a triage nurse.\n"
    assert AppSettings.from_env({**env, "MEDCHAT_SYSTEM_PROMPT": "Mine."}).system_prompt == "Mine."
    assert AppSettings.from_env({**env, "MEDCHAT_ADAPTER": str(bare)}).system_prompt == DEFAULT_SYSTEM_PROMPT
    (bare / "recipe.yaml").write_text("data: [unclosed\n")
    with pytest.raises(SettingsError, match="recipe.yaml"):
        AppSettings.from_env({**env, "MEDCHAT_ADAPTER": str(bare)})


def test_labels_never_show_a_server_path(tmp_path):
    folder = tmp_path / "runs" / "my-adapter"
    folder.mkdir(parents=True)
    assert public_label(str(folder)) == "my-adapter (local)"
    assert str(tmp_path) not in public_label(str(folder))
    assert public_label("meta-llama/Meta-Llama-3-8B-Instruct") == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert public_label(None) == "none"
