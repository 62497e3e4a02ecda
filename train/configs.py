"""Training hyperparameters: frozen dataclasses with `paper` and `demo` presets.

`paper` follows DESIGN.md section 2 (Magenta's cat-mel_2bar_big for the VAE); `demo` is
the same recipe sized for a one-to-two-hour run on a 2-core CPU.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VAETrainConfig:
    batch_size: int = 512
    steps: int = 200_000
    learning_rate: float = 1e-3
    lr_decay_rate: float = 0.9999  # per step, Magenta's exponential decay
    min_learning_rate: float = 1e-5
    max_beta: float = 0.5  # KL weight reached by the annealing schedule
    beta_rate: float = 0.99999  # beta = max_beta * (1 - beta_rate ** step)
    free_bits: float = 0.0  # KL nats per chunk not penalized
    sampling_rate: float = 1000.0  # inverse-sigmoid scheduled sampling; 0 = teacher forcing only
    grad_clip: float = 1.0
    transpose_semitones: int = 5  # augmentation range, +-
    eval_every: int = 2000
    eval_chunks: int = 2048
    checkpoint_every: int = 1000
    seed: int = 0


VAE_TRAIN_PRESETS = {
    "paper": VAETrainConfig(),
    "demo": VAETrainConfig(
        batch_size=128,
        steps=12_000,
        lr_decay_rate=0.9998,
        beta_rate=0.9995,
        sampling_rate=2000.0,
        eval_every=1000,
        eval_chunks=1024,
        checkpoint_every=500,
    ),
}
