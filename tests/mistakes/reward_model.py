"""Realistic wrong implementations for the reward-model exercise, keyed by catalogue id."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from tests.reference import solution

REF = solution("reward_model")
RewardModel, pairwise_loss, encode = REF["RewardModel"], REF["pairwise_loss"], REF["encode"]


# --- RewardModel: the reference's __init__, a different forward ---------------------------------

class reward_not_squeezed(RewardModel):
    def forward(self, input_ids, attention_mask):
        return self.head(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0])


class last_position_pooling(RewardModel):
    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden[:, -1]).squeeze(-1)


class mean_pooling_over_padding(RewardModel):
    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden.mean(dim=1)).squeeze(-1)


class attention_mask_ignored(RewardModel):
    def forward(self, input_ids, attention_mask):
        return self.head(self.encoder(input_ids).last_hidden_state[:, 0]).squeeze(-1)


class pooler_output(RewardModel):
    def forward(self, input_ids, attention_mask):
        return self.head(self.encoder(input_ids=input_ids, attention_mask=attention_mask).pooler_output).squeeze(-1)


class head_without_relu(RewardModel):
    def __init__(self, encoder, hidden=256, dropout=0.1, freeze_encoder=False):
        super().__init__(encoder, hidden, dropout, freeze_encoder)
        self.head = nn.Sequential(nn.Linear(encoder.config.hidden_size, hidden), nn.Dropout(dropout), nn.Linear(hidden, 1))


class dropout_in_eval(nn.Module):
    """The head written out by hand, with the functional dropout (training=True by default)."""

    def __init__(self, encoder, hidden=256, dropout=0.1, freeze_encoder=False):
        super().__init__()
        self.encoder, self.p = encoder, dropout
        self.fc1 = nn.Linear(encoder.config.hidden_size, hidden)
        self.fc2 = nn.Linear(hidden, 1)
        if freeze_encoder:
            encoder.requires_grad_(False)

    def forward(self, input_ids, attention_mask):
        cls = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]
        return self.fc2(F.dropout(F.relu(self.fc1(cls)), self.p)).squeeze(-1)


class forward_under_no_grad(RewardModel):
    @torch.no_grad()
    def forward(self, input_ids, attention_mask):
        return super().forward(input_ids, attention_mask)


class encoder_under_no_grad(RewardModel):
    def forward(self, input_ids, attention_mask):
        with torch.no_grad():
            cls = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]
        return self.head(cls).squeeze(-1)


class freeze_ignored(RewardModel):
    def __init__(self, encoder, hidden=256, dropout=0.1, freeze_encoder=False):
        super().__init__(encoder, hidden, dropout, freeze_encoder=False)
        if freeze_encoder:
            self.encoder.eval()  # eval() turns dropout off; it freezes nothing


# --- pairwise_loss -----------------------------------------------------------------------------

def _gap(c, r, margin):
    return c - r if margin is None else c - r - margin


def swapped_chosen_rejected(chosen_rewards, rejected_rewards, margin=None):
    return -F.logsigmoid(_gap(rejected_rewards, chosen_rewards, margin)).mean()


def missing_minus(chosen_rewards, rejected_rewards, margin=None):
    return F.logsigmoid(_gap(chosen_rewards, rejected_rewards, margin)).mean()


def log_sigmoid_overflow(chosen_rewards, rejected_rewards, margin=None):
    return -torch.log(torch.sigmoid(_gap(chosen_rewards, rejected_rewards, margin))).mean()


def naive_log1p_exp(chosen_rewards, rejected_rewards, margin=None):
    return torch.log(1 + torch.exp(-_gap(chosen_rewards, rejected_rewards, margin))).mean()


def sum_not_mean(chosen_rewards, rejected_rewards, margin=None):
    return -F.logsigmoid(_gap(chosen_rewards, rejected_rewards, margin)).sum()


def sigmoid_before_loss(chosen_rewards, rejected_rewards, margin=None):
    return -F.logsigmoid(_gap(torch.sigmoid(chosen_rewards), torch.sigmoid(rejected_rewards), margin)).mean()


def margin_sign(chosen_rewards, rejected_rewards, margin=None):
    d = chosen_rewards - rejected_rewards
    return -F.logsigmoid(d if margin is None else d + margin).mean()


def margin_broadcast(chosen_rewards, rejected_rewards, margin=None):
    d = chosen_rewards - rejected_rewards
    return -F.logsigmoid(d if margin is None else d - margin.view(-1, 1)).mean()


def margin_ignored(chosen_rewards, rejected_rewards, margin=None):
    return -F.logsigmoid(chosen_rewards - rejected_rewards).mean()


# --- rating_loss -------------------------------------------------------------------------------

def rating_no_sigmoid(rewards, ratings):
    return F.mse_loss(rewards, ratings)


def rating_broadcast(rewards, ratings):
    return ((torch.sigmoid(rewards) - ratings.unsqueeze(-1)) ** 2).mean()


def rating_sum(rewards, ratings):
    return ((torch.sigmoid(rewards) - ratings) ** 2).sum()


# --- preference_accuracy -----------------------------------------------------------------------

def ties_counted_correct(chosen_rewards, rejected_rewards):
    return (chosen_rewards >= rejected_rewards).float().mean().item()


def accuracy_count(chosen_rewards, rejected_rewards):
    return float((chosen_rewards > rejected_rewards).sum())


# --- train_reward_model: the reference loop with one thing wrong ----------------------------------

def _train(model, tokenizer, pairs, steps, batch_size, lr, swap=False, step=True, no_grad=False, zero=True,
           fresh_optimizer=False, use_lr=True, train_mode=True, reshuffle=True, order="reference"):
    """The reference loop (solutions/reward_model.py) with one thing changed."""
    device = next(model.parameters()).device

    def new_optimizer():
        params = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=lr) if use_lr else torch.optim.AdamW(params)

    optimizer = new_optimizer()
    if train_mode:
        model.train()
    draw = (lambda: torch.arange(len(pairs))) if order == "unshuffled" else (lambda: torch.randperm(len(pairs)))
    order_, position, losses = draw(), 0, []
    for _ in range(steps):
        if order == "every_step":
            order_, position = draw(), 0
        elif position + batch_size > len(pairs) if order != "short_last_batch" else position >= len(pairs):
            order_, position = (draw() if reshuffle else order_), 0
        batch = [pairs[i] for i in order_[position : position + batch_size].tolist()]
        position += batch_size
        prompts = [ex["prompt"] for ex in batch]
        chosen = encode(tokenizer, prompts, [ex["chosen"] for ex in batch]).to(device)
        rejected = encode(tokenizer, prompts, [ex["rejected"] for ex in batch]).to(device)
        with torch.set_grad_enabled(not no_grad):
            r_c = model(chosen["input_ids"], chosen["attention_mask"])
            r_r = model(rejected["input_ids"], rejected["attention_mask"])
        loss = pairwise_loss(r_r, r_c) if swap else pairwise_loss(r_c, r_r)
        if fresh_optimizer:
            optimizer = new_optimizer()
        if zero:
            optimizer.zero_grad()
        loss.backward()
        if step:
            optimizer.step()
        losses.append(loss.item())
    return losses


def train_swapped(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, swap=True)


def train_no_optimizer_step(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, step=False)


def train_rewards_under_no_grad(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, no_grad=True)


def train_no_zero_grad(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, zero=False)


def train_optimizer_per_step(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, fresh_optimizer=True)


def train_lr_ignored(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, use_lr=False)


def train_no_train_mode(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, train_mode=False)


def train_no_reshuffle(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, reshuffle=False)


def train_unshuffled(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, order="unshuffled")


def train_new_order_every_step(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, order="every_step")


def train_short_last_batch(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3):
    return _train(model, tokenizer, pairs, steps, batch_size, lr, order="short_last_batch")
