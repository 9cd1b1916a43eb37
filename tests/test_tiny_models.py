"""Tiny GPT-2/BERT: deterministic across processes, cached, loadable with from_pretrained, usable."""

import hashlib
import os
import shutil
import subprocess
import sys

import pytest
import torch

from grader.tiny_models import cache_dir, load_bert, load_gpt2, tiny_model_dir

BUILD = "from grader.tiny_models import tiny_model_dir; tiny_model_dir('gpt2'); tiny_model_dir('bert')"


def _hashes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            out[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def test_builds_are_byte_identical_across_processes(tmp_path):
    """Two processes with different hash seeds build the same files, WordPiece vocabulary included."""
    hashes = []
    for i, hashseed in enumerate(("1", "12345")):
        env = {**os.environ, "RLHF_COURSE_CACHE": str(tmp_path / f"c{i}"), "PYTHONHASHSEED": hashseed}
        subprocess.run([sys.executable, "-c", BUILD], env=env, check=True)
        hashes.append(_hashes(tmp_path / f"c{i}"))
    assert hashes[0] == hashes[1]
    names = {os.path.basename(p) for p in hashes[0]}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_COURSE_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    assert tiny_model_dir("gpt2").parent == tmp_path


def test_different_seeds_give_different_weights():
    a = load_gpt2(seed=0).model.transformer.wte.weight
    b = load_gpt2(seed=1).model.transformer.wte.weight
    assert not torch.equal(a, b)


def test_gpt2_generates_and_trains_on_a_padded_batch():
    model, tok, device = load_gpt2(device="cpu")
    assert device == torch.device("cpu")
    batch = tok(["The weather is nice today.", "Hello"], return_tensors="pt", padding=True)
    out = model.generate(**batch, max_new_tokens=5, do_sample=False)
    assert out.shape == (2, batch["input_ids"].shape[1] + 5)
    model.train()
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    assert torch.isfinite(loss) and model.transformer.wte.weight.grad.abs().sum() > 0


def test_bert_encodes_and_backpropagates():
    model, tok, _ = load_bert(device="cpu")
    batch = tok(["A short one.", "A longer sentence about the weather in spring."], return_tensors="pt", padding=True)
    assert tok.convert_ids_to_tokens(batch["input_ids"][0, 0].item()) == "[CLS]"
    hidden = model(**batch).last_hidden_state
    assert hidden.shape == (2, batch["input_ids"].shape[1], model.config.hidden_size)
    hidden[:, 0].sum().backward()
    assert model.embeddings.word_embeddings.weight.grad is not None


def test_real_loading_path_reads_a_local_directory(tmp_path):
    """Users with real weights pass a name or a path; here a local copy of the tiny model stands in."""
    local = tmp_path / "my-gpt2"
    shutil.copytree(tiny_model_dir("gpt2"), local)
    model, tok, _ = load_gpt2(str(local), device="cpu")
    ref = load_gpt2(device="cpu").model
    assert torch.equal(model.lm_head.weight, ref.lm_head.weight)
    assert tok.pad_token is not None


def test_hub_names_fail_clearly_offline():
    with pytest.raises(OSError, match="tiny"):
        load_gpt2("gpt2-this-model-is-not-cached")


def test_network_is_guarded():
    import socket

    with pytest.raises(AssertionError, match="network"):
        socket.create_connection(("192.0.2.1", 80), timeout=0.1)


def test_the_shipped_preference_set():
    from grader import load_preferences

    train, test = load_preferences("train"), load_preferences("test")
    assert len(train) == 200 and len(test) == 40
    assert all(set(p) == {"prompt", "chosen", "rejected"} for p in train + test)
    assert not {p["prompt"] for p in test} & {p["prompt"] for p in train}  # held out for real
    with pytest.raises(ValueError, match="unknown split"):
        load_preferences("validation")
