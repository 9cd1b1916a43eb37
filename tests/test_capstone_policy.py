"""The capstone's policy (grader/capstone/policy.py): a deterministic, cached SFT build whose samples vary along
the task's preference, unlike the untrained tiny GPT-2's; sampling seeded; and the non-interactive labelling
command end to end (sampling, the simulated labeller, export read by the preference loader)."""

import statistics

import pytest
import torch

from grader import load_gpt2
from grader.capstone import policy, task
from grader.capstone.feedback import FeedbackStore
from grader.preferences import load_preferences
from grader.tiny_models import tiny_model_dir


def _kind_and_rude(samples: list[list[str]]) -> tuple[float, float]:
    scores = [task.preference_score(s) for group in samples for s in group]
    return sum(s > 0 for s in scores) / len(scores), sum(s < 0 for s in scores) / len(scores)


def test_the_build_is_deterministic_and_its_key_follows_the_settings(tmp_path):
    short = policy.SFTSettings(steps=12)
    policy.build(short, tmp_path / "one", progress=False)
    policy.build(short, tmp_path / "two", progress=False)
    a = load_gpt2(str(tmp_path / "one"), device="cpu").model.state_dict()
    b = load_gpt2(str(tmp_path / "two"), device="cpu").model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # same seed, one thread: same bits
    assert policy.policy_key(short) != policy.policy_key(policy.SFTSettings(steps=13))
    assert policy.policy_key(short) == policy.policy_key(policy.SFTSettings(steps=12))


def test_a_cached_policy_is_loaded_not_trained_again(monkeypatch):
    policy.policy_dir()  # built by whichever test came first

    def no_training(*args, **kwargs):
        raise AssertionError("the cached policy was trained again")

    monkeypatch.setattr(policy, "train_sft", no_training)
    assert policy.load_policy(device="cpu").model.config.n_layer == 2


def test_sft_makes_the_tiny_gpt2_answer_kindly_or_rudely_where_the_untrained_one_writes_noise():
    losses = policy.training_losses()
    assert statistics.mean(losses[-20:]) < 0.5 * losses[0]  # the loss fell
    sft = policy.load_policy(device="cpu")
    samples = policy.generate(sft.model, sft.tokenizer, task.EVAL_PROMPTS, n_per_prompt=4, seed=0)
    assert [len(group) for group in samples] == [4] * len(task.EVAL_PROMPTS)
    kind, rude = _kind_and_rude(samples)
    assert kind >= 0.15 and rude >= 0.15, (kind, rude)  # both styles on held-out prompts: something to align
    base = load_gpt2(device="cpu")
    untrained = policy.generate(base.model, base.tokenizer, task.EVAL_PROMPTS, n_per_prompt=4, seed=0)
    assert sum(_kind_and_rude(untrained)) <= 0.25 < kind + rude  # noise rarely spells a word of the lexicon


def test_sampling_is_seeded_and_leaves_the_global_random_state_alone():
    sft = policy.load_policy(device="cpu")
    prompts = task.EVAL_PROMPTS[:3]
    state = torch.random.get_rng_state()
    first = policy.generate(sft.model, sft.tokenizer, prompts, n_per_prompt=3, max_new_tokens=12, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert first == policy.generate(sft.model, sft.tokenizer, prompts, n_per_prompt=3, max_new_tokens=12, seed=5)
    assert first != policy.generate(sft.model, sft.tokenizer, prompts, n_per_prompt=3, max_new_tokens=12, seed=6)


def test_a_model_name_or_folder_is_loaded_as_it_is():
    plain = policy.load_policy(device="cpu", name=str(tiny_model_dir("gpt2")))
    base = load_gpt2(device="cpu").model.state_dict()
    assert all(torch.equal(v, base[k]) for k, v in plain.model.state_dict().items())  # no fine-tuning


def test_label_then_export_gives_pairs_the_preference_loader_reads(tmp_path, capsys):
    from grader.cli import main

    db = tmp_path / "feedback.sqlite"
    common = ["--db", str(db), "--n-per-prompt", "2", "--prompts", "eval", "--max-new-tokens", "16"]
    assert main(["capstone", "label", *common]) == 0
    with FeedbackStore(db) as store:
        rated, compared = len(store.ratings()), len(store.comparisons())
    assert compared == len(task.EVAL_PROMPTS) and len(task.EVAL_PROMPTS) < rated <= 2 * len(task.EVAL_PROMPTS)
    assert f"{rated} ratings and {compared} comparisons saved" in capsys.readouterr().out
    assert main(["capstone", "label", *common]) == 0  # the same command again: nothing new, it resumes
    assert "0 ratings and 0 comparisons saved" in capsys.readouterr().out
    pairs, ratings = tmp_path / "pairs.jsonl", tmp_path / "ratings.jsonl"
    assert main(["capstone", "export", "--db", str(db), "--pairs", str(pairs), "--ratings", str(ratings)]) == 0
    loaded = load_preferences(pairs)
    assert loaded, "the simulated labeller found no preference in the policy's samples"
    for pair in loaded:  # the simulated labeller's preference, through the store and the export
        assert task.preference_score(pair["chosen"]) > task.preference_score(pair["rejected"])
    assert main(["capstone", "label", "--labeller", "judge", "--mode", "ratings", "--db", str(db)]) == 1
    assert "the judge compares two completions" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [(["--noise", "2"], "between 0 and 1"), (["--n-per-prompt", "0"], "at least 1")])
def test_label_arguments_are_checked(argv, words, capsys):
    from grader.cli import main

    with pytest.raises(SystemExit) as exit:
        main(["capstone", "label", *argv])
    assert exit.value.code == 2 and words in capsys.readouterr().err
