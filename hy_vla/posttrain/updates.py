"""One iteration's parameter updates of each post-training method (the model side of `hy_vla.posttrain.loop`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from hy_vla.flow import stochastic
from hy_vla.posttrain.config import PostTrainConfig
from hy_vla.posttrain.losses import gae, group_advantages, ppo_clip_loss, preference_loss
from hy_vla.posttrain.records import ChunkRecord, EpisodeRollout, collate_batches, collate_chains


@dataclass
class Updater:
    """The model being post-trained, its optimizer, the frozen starting policy and the demonstrations."""

    model: Any  # HyVLA
    optimizer: torch.optim.Optimizer
    config: PostTrainConfig
    reference: Any = None  # frozen starting policy (KL metric / guard, preference reference)
    ema: Any = None
    demos: Iterator[dict[str, Any]] | None = None  # supervised batches of the demonstrations (already prepared)
    flow: Any = None  # the checkpoint run's flow-time sampler (TrainConfig.flow)
    steps: int = 0  # optimizer steps so far
    critic: Any = None  # ppo: hy_vla.posttrain.value.Critic

    def step(self, loss: Tensor) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.model.parameters() if p.requires_grad]
        norm = float(nn.utils.clip_grad_norm_(params, self.config.max_grad_norm))
        value = float(loss.detach())
        if not (math.isfinite(value) and math.isfinite(norm)):
            from hy_vla.utils.errors import TrainingDiverged

            raise TrainingDiverged(f"post-training loss {value:.4g} / gradient norm {norm:.4g} is not finite")
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.steps += 1
        return norm

    # -- grpo ------------------------------------------------------------------------------------
    def chain_log_probs(self, model: Any, batch: dict, states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(per-transition log-probs (B, K), means (K, B, H, A)) of stored chains under `model`."""
        means = model.chain_means(batch, states)
        return stochastic.chain_log_prob(states, means, self.config.sigma, mask), means

    def kl_to_reference(self, batch: dict, states: Tensor, mask: Tensor, means: Tensor) -> Tensor:
        """(B,) exact KL of the chain's transitions to the starting policy's, summed over transitions, per active
        action dimension."""
        with torch.no_grad():
            ref = self.reference.chain_means(batch, states)
        kl = sum(stochastic.transition_kl(means[k], ref[k], self.config.sigma, mask) for k in range(means.shape[0]))
        return kl / mask.flatten(1).sum(dim=1).clamp(min=1)

    def grpo(self, episodes: list[EpisodeRollout], generator: torch.Generator) -> dict[str, float]:
        rewards = torch.tensor([e.reward for e in episodes])
        layout_ids: dict[tuple[str, int], int] = {}
        groups = torch.tensor([layout_ids.setdefault((e.task, e.seed), len(layout_ids)) for e in episodes])
        adv = group_advantages(rewards, groups)
        chunks: list[tuple[ChunkRecord, float]] = [
            (rec, float(a)) for e, a in zip(episodes, adv, strict=True) if a != 0 for rec in e.records
        ]
        out = {"chunks": float(len(chunks)), "informative_groups": float(len({int(g) for g, a in zip(groups, adv,
               strict=True) if a != 0}))}  # fmt: skip
        if not chunks:  # every group all-success or all-failure: nothing to learn from this iteration
            return out
        return {**out, **self._clipped_updates(chunks, generator)}

    # -- ppo (value head) -------------------------------------------------------------------------
    def features(self, records: list[ChunkRecord]) -> Tensor:
        """(N, F) the current policy's observation features of each record (no gradient)."""
        parts = []
        for i in range(0, len(records), self.config.minibatch):
            batch = collate_batches([r.batch for r in records[i : i + self.config.minibatch]])
            parts.append(self.model.observation_features(batch).cpu())
        return torch.cat(parts)

    def ppo(self, episodes: list[EpisodeRollout], generator: torch.Generator) -> dict[str, float]:
        """PPO with a learned critic: per-call advantages by GAE (the reward arrives after an episode's last call),
        normalized over the iteration; the critic regresses the returns in the same minibatches."""
        cfg, critic = self.config, self.critic
        assert critic is not None, "ppo needs a critic"
        records = [r for e in episodes for r in e.records]
        if not records:
            return {"chunks": 0.0}
        feats = self.features(records)
        head = critic.ensure(feats.shape[-1])
        with torch.no_grad():
            values = head(feats)
        advs, rets, at = [], [], 0
        for e in episodes:
            n = len(e.records)
            rewards = torch.zeros(n)
            if n:
                rewards[-1] = e.reward
            a, r = gae(rewards, values[at : at + n], cfg.gamma, cfg.gae_lambda)
            advs.append(a)
            rets.append(r)
            at += n
        adv, ret = torch.cat(advs), torch.cat(rets)
        out = {"chunks": float(len(records)), "value_mean": float(values.mean()), "return_mean": float(ret.mean()),
               "explained_variance": float(1 - (ret - values).var() / ret.var().clamp(min=1e-8))}  # fmt: skip
        adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
        chunks = list(zip(records, adv.tolist(), strict=True))
        return {**out, **self._clipped_updates(chunks, generator, (feats, ret))}

    def _clipped_updates(
        self, chunks: list[tuple[ChunkRecord, float]], generator: torch.Generator, critic_data: Any = None
    ) -> dict[str, float]:
        """`epochs` passes of clipped-ratio updates over (record, advantage) chunks in random minibatches; with
        critic_data (features (N, F), returns (N,)) the critic takes a regression step on each minibatch too."""
        cfg = self.config
        sums: dict[str, float] = {"loss": 0.0, "clip_frac": 0.0, "approx_kl": 0.0, "kl_ref": 0.0, "grad_norm": 0.0}
        if critic_data is not None:
            sums["value_loss"] = 0.0
        n = 0
        for _ in range(cfg.epochs):
            order = torch.randperm(len(chunks), generator=generator).tolist()
            for i in range(0, len(order), cfg.minibatch):
                idx = order[i : i + cfg.minibatch]
                part = [chunks[j] for j in idx]
                batch, states, mask, old = collate_chains([r for r, _ in part])
                a = torch.tensor([x for _, x in part])
                logp, means = self.chain_log_probs(self.model, batch, states, mask)
                loss, clip_frac = ppo_clip_loss(logp, old, a, cfg.clip)
                kl = self.kl_to_reference(batch, states, mask, means) if self.reference is not None else None
                if kl is not None and cfg.kl_weight > 0:
                    loss = loss + cfg.kl_weight * kl.mean()
                norm = self.step(loss)
                if critic_data is not None:
                    feats, ret = critic_data
                    sums["value_loss"] += self.critic.step(feats[idx], ret[idx])
                dims = mask.flatten(1).sum(dim=1).clamp(min=1)
                sums["loss"] += float(loss.detach())
                sums["clip_frac"] += float(clip_frac)
                sums["approx_kl"] += float(((old - logp.detach()).sum(dim=1) / dims).mean())
                sums["kl_ref"] += 0.0 if kl is None else float(kl.detach().mean())
                sums["grad_norm"] += norm
                n += 1
        return {k: v / n for k, v in sums.items()}

    # -- supervised (rft, dagger, sft) ---------------------------------------------------------------------
    def supervised(self, samples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, float]:
        """`steps_per_iteration` flow-matching steps on rollout samples mixed with demonstrations (sft: demos only)."""
        cfg = self.config
        sums = {"loss": 0.0, "demo_loss": 0.0, "rollout_loss": 0.0, "grad_norm": 0.0}
        for _ in range(cfg.steps_per_iteration):
            terms, weights = {}, {}
            if samples:
                n_roll = cfg.minibatch - self._demo_count() if self.demos is not None else cfg.minibatch
                idx = torch.randint(0, len(samples), (n_roll,), generator=generator).tolist()
                terms["rollout_loss"], _ = self.model.compute_loss(
                    collate_batches([samples[i] for i in idx]), generator, flow=self.flow
                )
                weights["rollout_loss"] = n_roll
            if self.demos is not None and (not samples or cfg.demo_fraction > 0):
                terms["demo_loss"], _ = self.model.compute_loss(next(self.demos), generator, flow=self.flow)
                weights["demo_loss"] = self._demo_count() if samples else cfg.minibatch
            total = sum(weights.values())
            loss = sum(terms[k] * (weights[k] / total) for k in terms)
            sums["grad_norm"] += self.step(loss)
            sums["loss"] += float(loss.detach())
            for k, v in terms.items():
                sums[k] += float(v.detach())
        return {k: v / cfg.steps_per_iteration for k, v in sums.items()} | {"rollout_samples": float(len(samples))}

    def _demo_count(self) -> int:
        return max(1, round(self.config.minibatch * self.config.demo_fraction))

    # -- pref ------------------------------------------------------------------------------------
    def preference(self, pairs: list[tuple[dict, dict]], generator: torch.Generator) -> dict[str, float]:
        """`steps_per_iteration` DPO steps on (preferred, dispreferred) batches of one observation each."""
        cfg, model = self.config, self.model
        if not pairs:
            return {"pairs": 0.0}
        sums = {"loss": 0.0, "pref_acc": 0.0, "demo_loss": 0.0, "grad_norm": 0.0}
        h, width = model.config.horizon, model.config.max_action_dim
        for _ in range(cfg.steps_per_iteration):
            idx = torch.randint(0, len(pairs), (min(cfg.minibatch, len(pairs)),), generator=generator).tolist()
            win = collate_batches([pairs[i][0] for i in idx])
            lose = collate_batches([pairs[i][1] for i in idx])
            noise = torch.randn(len(idx), h, width, generator=generator)
            t = self.flow.sample((len(idx),), generator) if self.flow is not None else torch.rand(len(idx))
            with torch.no_grad():
                ref_w, ref_l = self.reference.flow_losses(win, noise, t), self.reference.flow_losses(lose, noise, t)
            loss, acc = preference_loss(model.flow_losses(win, noise, t), ref_w, model.flow_losses(lose, noise, t),
                                        ref_l, cfg.pref_beta, cfg.pref_prox)  # fmt: skip
            if self.demos is not None and cfg.demo_fraction > 0:  # anchor on the demonstrations
                demo, _ = model.compute_loss(next(self.demos), generator, flow=self.flow)
                loss = loss + cfg.demo_fraction * demo
                sums["demo_loss"] += float(demo.detach())
            sums["grad_norm"] += self.step(loss)
            sums["loss"] += float(loss.detach())
            sums["pref_acc"] += float(acc)
        return {k: v / cfg.steps_per_iteration for k, v in sums.items()} | {"pairs": float(len(pairs))}
