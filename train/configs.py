"""Training hyperparameters as frozen dataclasses; the named values live in `train.presets`.

`TrainConfig` holds what the shared loop (`train.loop`) reads; each task adds its own
fields in a subclass. Every field is an int, float, bool or str, so that
`train.config_cli` turns each into a typed `--flag`. Class defaults are the `paper` values
(the paper's sizes; docs/data-and-training.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """What `train.loop.train` needs: steps, optimiser, precision and the run's cadence."""

    batch_size: int = 64  # over all processes; each of N ranks draws batch_size // N
    steps: int = 500_000
    learning_rate: float = 1e-3
    lr_decay: float = 0.98  # lr = learning_rate * lr_decay ** (step // lr_decay_every) ...
    lr_decay_every: int = 4000
    min_learning_rate: float = 0.0  # ... but never below this
    grad_clip: float = 1.0  # maximum global gradient norm
    ema_decay: float = 0.0  # exponential moving average of the weights; 0 = off
    precision: str = "auto"  # "fp32", "bf16", "fp16" (CUDA) or "auto" (fp16 on CUDA, fp32 on the CPU)
    eval_every: int = 5000
    checkpoint_every: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class VAETrainConfig(TrainConfig):
    """MusicVAE training (Magenta's cat-mel_2bar_big recipe): exponential lr decay per step."""

    batch_size: int = 512
    steps: int = 200_000
    lr_decay: float = 0.9999
    lr_decay_every: int = 1
    min_learning_rate: float = 1e-5
    eval_every: int = 2000
    max_beta: float = 0.5  # KL weight reached by the annealing schedule
    beta_rate: float = 0.99999  # beta = max_beta * (1 - beta_rate ** step)
    free_bits: float = 0.0  # KL bits per chunk not penalized (Magenta's free_bits)
    sampling_rate: float = 1000.0  # inverse-sigmoid scheduled sampling; 0 = teacher forcing only
    transpose_semitones: int = 5  # augmentation range, +-
    style_weights: str = "equal"  # "equal", "natural" (uniform over chunks) or "folk=2,chorale=1,..."
    eval_chunks: int = 2048  # held-out chunks per style
    freeze_encoder: bool = False  # decoder-only fine-tuning (with --init-from): every latent stays as it was
    # decoder fine-tuning for sampled latents (with --freeze-encoder and --init-from's codec): the decoder reads
    # every latent through the codec, as it does at generation, and half of them moved in the codec's
    # normalized space by Gaussian noise of a std drawn per chunk from U(0, latent_noise); 0 = off
    latent_noise: float = 0.0


@dataclass(frozen=True)
class SequenceTrainConfig(TrainConfig):
    """A model over spans of normalized latents (the TransformerMDN; base of diffusion).

    The class defaults are the paper's setting: 32-latent windows of the tracks that long,
    no style labels (`train.train_sequence`).
    """

    eval_windows: int = 512  # fixed held-out spans for the evaluation loss
    min_length: int = 32  # latents per training span, at least ...
    max_length: int = 32  # ... and at most (longer tracks give windows)
    style_weights: str = "natural"  # each style's share of the spans, as the VAE's --style-weights
    style_dropout: float = 1.0  # share of spans trained without their style label; 1 = no labels at all
    check_style: str = "any"  # the musicality check at each evaluation (with --export): style ...
    check_latents: int = 8  # ... length in latents ...
    check_samples: int = 32  # ... and number of melodies; 0 (either) = no check
    outline_dropout: float = 0.2  # share of spans an outline-conditioned model sees with their outlines unknown


@dataclass(frozen=True)
class DiffusionTrainConfig(SequenceTrainConfig):
    """The diffusion model, with the linear noise schedule it is trained (and sampled) with."""

    beta_start: float = 1e-6
    beta_end: float = 0.01
    diffusion_steps: int = 1000
