"""MTMM-ES (Akhtar et al., NAACL 2019, Algorithm 1): bi-GRU per modality, contextual inter-modal
(CIM) attention per modality pair, concatenation with the unimodal states, shared layer, task heads.

With one modality the CIM block attends the modality to itself (the paper's self-attention variant).
Padded utterances, and utterances lacking a modality, get zero attention weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .tasks import TASKS

PAIR_ORDER = (("text", "visual"), ("acoustic", "visual"), ("text", "acoustic"))  # the paper's order
TUPLE_FIELDS = ("tasks", "shared", "context_norm", "video_norm", "linear_context")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture: input dims per modality, which tasks get heads, sizes and dropout."""

    input_dims: dict[str, int]
    tasks: tuple[str, ...] = ("sentiment", "emotion")
    hidden: int = 100  # GRU units per direction (d in Algorithm 1)
    dim: int = 100  # per-utterance state after the GRU's dense projection
    shared: tuple[int, ...] = (100,)  # shared fully connected layers before the heads
    dropout: float = 0.3
    input_dropout: float = 0.0
    modality_dropout: float = 0.0  # training only: drop a whole modality of a video with this probability
    context_norm: tuple[str, ...] = ()  # modalities also z-normalised over the video's own utterances
    context_shrink: float = 2.0  # pseudo-utterances at the corpus mean/std pulling short videos' statistics
    video_norm: tuple[str, ...] = ()  # modalities z-normalised over the video only (replaces the corpus z-score)
    linear_context: tuple[str, ...] = ()  # modalities every head also reads linearly, with their video context

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.input_dims)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        tuples = {k: tuple(data[k]) for k in TUPLE_FIELDS if k in data}
        return cls(**{**data, **tuples})


def modality_pairs(modalities: Sequence[str]) -> list[tuple[str, str]]:
    """The CIM pairs for the given modalities; a single modality pairs with itself."""
    if len(modalities) == 1:
        return [(modalities[0], modalities[0])]
    ordered = [p for p in PAIR_ORDER if p[0] in modalities and p[1] in modalities]
    extra = [p for p in combinations(modalities, 2) if p not in ordered]
    return ordered + extra


def masked_softmax(scores: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis where `keep` [B, 1, U] is true; rows with no key get all zeros."""
    weights = torch.softmax(scores.masked_fill(~keep, -1e9), dim=-1)
    return weights * keep


def cim_attention(
    x: torch.Tensor, y: torch.Tensor, x_keys: torch.Tensor, y_keys: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CIM-Attention(X, Y) of Algorithm 1 for X, Y [B, U, d] and key masks [B, U].

    M1 = X Y^T, M2 = Y X^T; N = row softmax; O1 = N1 Y, O2 = N2 X; A1 = O1 * X, A2 = O2 * Y.
    Returns [A1, A2] [B, U, 2d] and the attention matrices N1, N2 [B, U, U].
    """
    n1 = masked_softmax(x @ y.transpose(1, 2), y_keys[:, None, :])
    n2 = masked_softmax(y @ x.transpose(1, 2), x_keys[:, None, :])
    a1 = (n1 @ y) * x
    a2 = (n2 @ x) * y
    return torch.cat([a1, a2], dim=-1), n1, n2


def context_normalise(x: torch.Tensor, present: torch.Tensor, shrink: float) -> torch.Tensor:
    """z-score corpus-normalised features x [B, U, D] over each video's present utterances.

    Speaker (or recording) normalisation from the video itself: the video's mean and variance are
    shrunk towards the corpus's (0 and 1 after corpus z-scoring) by `shrink` pseudo-utterances, so a
    one-utterance video keeps its corpus-normalised values and a long one is fully normalised."""
    weight = present[..., None].to(x.dtype)
    count = weight.sum(1, keepdim=True) + shrink
    mean = (x * weight).sum(1, keepdim=True) / count.clamp(min=1.0)
    variance = (((x - mean) ** 2) * weight).sum(1, keepdim=True)
    std = torch.sqrt((variance + shrink) / count.clamp(min=1.0)).clamp(min=1e-6)
    return torch.where(present[..., None], (x - mean) / std, torch.zeros_like(x))


def others_mean(x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Per utterance, the mean of x [B, U, D] over the video's other present utterances (zeros when
    it has none): what the rest of the video says, beside what this utterance says."""
    weight = present[..., None].to(x.dtype)
    total = (x * weight).sum(1, keepdim=True)
    others = weight.sum(1, keepdim=True) - weight
    return (total - x * weight) / others.clamp(min=1.0)


class ModalityEncoder(nn.Module):
    """z-scored features (with context normalisation, also the same z-scored over the video; with
    video normalisation, only z-scored over the video) -> bi-GRU over the video's utterances ->
    dense (ReLU) per utterance."""

    def __init__(self, input_dim: int, config: ModelConfig, context_norm: bool = False, video_norm: bool = False):
        super().__init__()
        self.register_buffer("mean", torch.zeros(input_dim))
        self.register_buffer("std", torch.ones(input_dim))
        self.context_norm = context_norm
        self.video_norm = video_norm
        self.shrink = config.context_shrink
        self.input_dropout = nn.Dropout(config.input_dropout)
        self.width = 2 * input_dim if context_norm and not video_norm else input_dim  # video_norm replaces
        self.gru = nn.GRU(self.width, config.hidden, batch_first=True, bidirectional=True)
        self.project = nn.Sequential(nn.Linear(2 * config.hidden, config.dim), nn.ReLU(), nn.Dropout(config.dropout))

    def normalise(self, features: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """The GRU's input [B, U, width]: features z-scored as configured, zeros where absent."""
        x = ((features - self.mean) / self.std) * present[..., None]
        if self.video_norm:
            return context_normalise(x, present, self.shrink)
        if self.context_norm:
            return torch.cat([x, context_normalise(x, present, self.shrink)], dim=-1)
        return x

    def forward(self, features: torch.Tensor, present: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.input_dropout(self.normalise(features, present))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = self.gru(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=x.shape[1])
        return self.project(states)


class MTMMES(nn.Module):
    """The contextual inter-modal attention multi-task network."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoders = nn.ModuleDict(
            {
                m: ModalityEncoder(d, config, m in config.context_norm, m in config.video_norm)
                for m, d in config.input_dims.items()
            }
        )
        self.pairs = modality_pairs(config.modalities)
        width = 2 * config.dim * len(self.pairs) + config.dim * len(config.modalities)
        layers: list[nn.Module] = []
        for size in config.shared:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(config.dropout)]
            width = size
        self.shared = nn.Sequential(*layers)
        heads = {t: nn.Linear(width, 2 if t == "sentiment" else TASKS[t]) for t in config.tasks}
        self.heads = nn.ModuleDict(heads)
        self.linear = nn.ModuleDict()
        if config.linear_context:
            self.linear_dropout = nn.Dropout(config.dropout)
            linear_width = sum(2 * self.encoders[m].width for m in config.linear_context)
            for task, head in heads.items():
                self.linear[task] = nn.Linear(linear_width, head.out_features)
                nn.init.zeros_(self.linear[task].weight)
                nn.init.zeros_(self.linear[task].bias)

    def set_normalisation(self, statistics: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        for modality, (mean, std) in statistics.items():
            self.encoders[modality].mean.copy_(torch.as_tensor(mean))
            self.encoders[modality].std.copy_(torch.as_tensor(std))

    def forward(
        self,
        features: dict[str, torch.Tensor],
        masks: dict[str, torch.Tensor],
        lengths: torch.Tensor,
        utterance_mask: torch.Tensor,
        return_attention: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Per-utterance outputs: `sentiment` logits [B, U, 2], `emotion` logits [B, U, 7],
        `intensity` [B, U], `sarcasm` logit [B, U]; with return_attention, `attention/X-Y`
        [B, 2, U, U] (N1, N2) per modality pair."""
        present = {m: masks[m] & utterance_mask for m in self.config.modalities}
        if self.training and self.config.modality_dropout > 0:
            present = self._drop_modalities(present)
        states = {m: self.encoders[m](features[m], present[m], lengths) for m in self.config.modalities}
        row = utterance_mask[..., None].to(states[self.config.modalities[0]].dtype)
        parts, outputs = [], {}
        for first, second in self.pairs:
            attended, n1, n2 = cim_attention(states[first], states[second], present[first], present[second])
            parts.append(attended)
            if return_attention:
                outputs[f"attention/{first}-{second}"] = torch.stack([n1, n2], dim=1)
        parts += [states[m] for m in self.config.modalities]
        shared = self.shared(torch.cat(parts, dim=-1) * row)
        linear_input = self._linear_input(features, present) if self.linear else None
        for task, head in self.heads.items():
            out = head(shared)
            if linear_input is not None:
                out = out + self.linear[task](linear_input) * row
            outputs[task] = out if task in ("sentiment", "emotion") else out[..., 0]
        return outputs

    def _linear_input(self, features: dict[str, torch.Tensor], present: dict[str, torch.Tensor]) -> torch.Tensor:
        """What the linear path reads: each `linear_context` modality's normalised features and their
        mean over the video's other utterances (the wide part beside the deep CIM network)."""
        parts = []
        for m in self.config.linear_context:
            x = self.encoders[m].normalise(features[m], present[m])
            parts += [x, others_mean(x, present[m])]
        return self.linear_dropout(torch.cat(parts, dim=-1))

    def _drop_modalities(self, present: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Drop whole modalities per video at random, always keeping at least one."""
        modalities = self.config.modalities
        batch = next(iter(present.values())).shape[0]
        drop = torch.rand(batch, len(modalities)) < self.config.modality_dropout
        drop[drop.all(dim=1), torch.randint(len(modalities), (1,))] = False
        return {m: present[m] & ~drop[:, i, None] for i, m in enumerate(modalities)}
