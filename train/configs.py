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
    free_bits: float = 0.0  # KL bits per chunk not penalized (Magenta's free_bits)
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
        steps=7_000,
        lr_decay_rate=0.9998,
        beta_rate=0.9995,
        free_bits=48.0,  # the narrow decoder otherwise ignores z (KL fell to 6 nats in a trial)
        sampling_rate=1000.0,
        eval_every=1000,
        eval_chunks=1024,
        checkpoint_every=500,
    ),
}


@dataclass(frozen=True)
class SequenceTrainConfig:
    """Training of a model over windows of normalized latents (diffusion or TransformerMDN)."""

    batch_size: int = 64
    steps: int = 500_000
    learning_rate: float = 1e-3
    lr_decay: float = 0.98  # multiplied in every `lr_decay_every` steps
    lr_decay_every: int = 4000
    grad_clip: float = 1.0
    ema_decay: float = 0.0  # 0 disables the exponential moving average of weights
    eval_every: int = 5000
    eval_windows: int = 512
    checkpoint_every: int = 1000
    seed: int = 0


DIFFUSION_TRAIN_PRESETS = {
    "paper": SequenceTrainConfig(),
    "demo": SequenceTrainConfig(steps=5000, lr_decay_every=1000, ema_decay=0.999, eval_every=1000,
                                eval_windows=256, checkpoint_every=500),
}

MDN_TRAIN_PRESETS = {
    "paper": SequenceTrainConfig(batch_size=128, steps=250_000, learning_rate=3e-4),
    "demo": SequenceTrainConfig(batch_size=64, steps=3000, learning_rate=1e-3, lr_decay_every=1000,
                                eval_every=1000, eval_windows=256, checkpoint_every=500),
}
