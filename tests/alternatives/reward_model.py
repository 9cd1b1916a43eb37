"""Alternative correct reward-model implementations: other layer layouts and freezing styles, softplus and
BCE-with-logits losses, loops, a concatenated forward pass, and the spec's shuffled order written as epochs."""


import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from tests.reference import solution

REF = solution("reward_model")
encode = REF["encode"]


class RewardModelNamedLayers(nn.Module):
    """Separate layers created last-first, frozen parameter by parameter, positional encoder call, view(-1)."""

    def __init__(self, encoder, hidden=256, dropout=0.1, freeze_encoder=False):
        super().__init__()
        self.out = nn.Linear(hidden, 1)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(encoder.config.hidden_size, hidden)
        self.bert = encoder
        for p in self.bert.parameters():
            p.requires_grad = not freeze_encoder

    def forward(self, input_ids, attention_mask):
        cls = self.bert(input_ids, attention_mask)[0][:, 0, :]
        return self.out(self.drop(torch.relu(self.proj(cls)))).view(-1)


class RewardModelGradSwitch(nn.Module):
    """A frozen encoder's parameters do not require gradients (the spec) and it also runs without autograd (no
    activations kept for a backward pass); functional dropout that follows self.training."""

    def __init__(self, encoder, hidden=256, dropout=0.1, freeze_encoder=False):
        super().__init__()
        self.encoder, self.dropout, self.freeze = encoder, dropout, freeze_encoder
        encoder.requires_grad_(not freeze_encoder)
        self.mlp = nn.ModuleList([nn.Linear(encoder.config.hidden_size, hidden), nn.Linear(hidden, 1)])

    def forward(self, input_ids, attention_mask):
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        x = F.dropout(F.relu(self.mlp[0](states[:, 0])), self.dropout, training=self.training)
        return self.mlp[1](x)[:, 0]


def pairwise_loss_softplus(chosen_rewards, rejected_rewards, margin=None):
    """softplus(-d) = -log sigma(d), in float64."""
    d = chosen_rewards.double() - rejected_rewards.double()
    if margin is not None:
        d = d - margin.double()
    return F.softplus(-d).mean().to(chosen_rewards.dtype)


def pairwise_loss_bce(chosen_rewards, rejected_rewards, margin=None):
    """Logistic regression on the gap with every label 1."""
    d = chosen_rewards - rejected_rewards - (0 if margin is None else margin)
    return F.binary_cross_entropy_with_logits(d, torch.ones_like(d))


def pairwise_loss_loop(chosen_rewards, rejected_rewards, margin=None):
    """Pair by pair."""
    total = 0
    for i in range(chosen_rewards.shape[0]):
        m = 0.0 if margin is None else margin[i]
        total = total - F.logsigmoid(chosen_rewards[i] - rejected_rewards[i] - m)
    return total / chosen_rewards.shape[0]


def rating_loss_mse(rewards, ratings):
    return F.mse_loss(torch.sigmoid(rewards), ratings)


def preference_accuracy_python(chosen_rewards, rejected_rewards):
    wins = sum(float(c) > float(r) for c, r in zip(chosen_rewards, rejected_rewards))
    return wins / len(chosen_rewards)


def preference_accuracy_sign(chosen_rewards, rejected_rewards):
    return torch.mean((chosen_rewards - rejected_rewards > 0).double()).item()


def train_reward_model_concatenated(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    """One forward pass over chosen and rejected together; a slice-and-reshuffle order of its own writing;
    zero_grad(set_to_none) after the step."""
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW((p for p in model.parameters() if p.requires_grad), lr=lr)
    model.train()
    losses, order = [], []
    with tqdm(total=steps) as bar:
        for _ in range(steps):
            if len(order) < batch_size:
                order = torch.randperm(len(pairs)).tolist()
            batch, order = [pairs[i] for i in order[:batch_size]], order[batch_size:]
            prompts = [ex["prompt"] for ex in batch]
            enc = encode(tokenizer, prompts + prompts, [ex["chosen"] for ex in batch] + [ex["rejected"] for ex in batch])
            rewards = model(enc["input_ids"].to(device), enc["attention_mask"].to(device))
            loss = REF["pairwise_loss"](rewards[:batch_size], rewards[batch_size:])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=losses[-1])
    return losses


def train_reward_model_epochs(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    """Epochs of consecutive slices of a torch.randperm order; the optimizer over all parameters (AdamW skips
    those without gradients); train() set inside the loop; the loss as float(loss.detach())."""
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    order, losses = torch.randperm(len(pairs)), []
    start = 0
    for _ in tqdm(range(steps), desc="train"):
        if start + batch_size > len(pairs):
            order, start = torch.randperm(len(pairs)), 0
        batch = [pairs[i] for i in order[start:start + batch_size]]
        start += batch_size
        model.train()
        rewards = []
        for key in ("chosen", "rejected"):
            enc = encode(tokenizer, [ex["prompt"] for ex in batch], [ex[key] for ex in batch])
            rewards.append(model(**{k: enc[k].to(device) for k in ("input_ids", "attention_mask")}))
        loss = REF["pairwise_loss"](*rewards)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


ALTERNATIVES = {
    "RewardModel": [RewardModelNamedLayers, RewardModelGradSwitch],
    "pairwise_loss": [pairwise_loss_softplus, pairwise_loss_bce, pairwise_loss_loop],
    "rating_loss": [rating_loss_mse],
    "preference_accuracy": [preference_accuracy_python, preference_accuracy_sign],
    "train_reward_model": [train_reward_model_concatenated, train_reward_model_epochs],
}
