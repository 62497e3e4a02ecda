"""The one registry of named sizes: `paper` and `demo` for every model and its training.

`paper` follows the paper (Magenta's cat-mel_2bar_big for the VAE, the paper's
diffusion model and TransformerMDN); `demo` is the same architecture sized for the models
committed in `demo/model`, each a one-to-two-hour run on a 2-core CPU. Do not change the
`demo` values without retraining those models.

    >>> preset("demo").vae.z_size
    128
"""

from __future__ import annotations

from dataclasses import dataclass

from core.nets.denoiser import DenoiserConfig
from core.nets.mdn import MDNConfig
from core.nets.outline import OutlineConfig
from core.nets.vae import VAEConfig
from train.configs import DiffusionTrainConfig, SequenceTrainConfig, VAETrainConfig

# The committed sequence models then continued those weights to read outlines (`--init-from DIR
# --outline-conditioned true` with these flags): what their last runs were trained with.
DEMO_OUTLINE_FINE_TUNES = {"diffusion": dict(steps=6_000, learning_rate=5e-4, check_samples=0),
                           "mdn": dict(steps=1_500, learning_rate=5e-4, check_samples=0)}

# Folk tunes are what the demo should play best; the rare styles are oversampled but not to
# parity (chorales have 3,050 chunks, "other" 305).
DEMO_STYLE_WEIGHTS = "folk=2,renaissance=1,chorale=0.5,classical=0.5,other=0.1"
# Both sequence models: spans of 1-32 latents from every track, style labels dropped in a
# fifth of the spans (classifier-free guidance), a musicality check on folk at each evaluation.
DEMO_SEQUENCE_TRAINING = dict(steps=3_000, lr_decay_every=1000, ema_decay=0.999, eval_every=1000, eval_windows=256,
                              checkpoint_every=250, precision="bf16", min_length=1, max_length=32,
                              style_weights=DEMO_STYLE_WEIGHTS, style_dropout=0.2, check_style="folk")


@dataclass(frozen=True)
class Preset:
    """Model and training configs of every model at one size."""

    vae: VAEConfig
    vae_training: VAETrainConfig
    denoiser: DenoiserConfig
    diffusion_training: DiffusionTrainConfig
    mdn: MDNConfig
    mdn_training: SequenceTrainConfig
    outline: OutlineConfig
    outline_training: SequenceTrainConfig


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        vae=VAEConfig(),
        vae_training=VAETrainConfig(),
        denoiser=DenoiserConfig(),
        diffusion_training=DiffusionTrainConfig(),
        mdn=MDNConfig(),
        mdn_training=SequenceTrainConfig(batch_size=128, steps=250_000, learning_rate=3e-4),
        # not in the paper: the trunk of its sequence models, on the places in the tune it needs
        outline=OutlineConfig(tune_positions=True),
        outline_training=SequenceTrainConfig(batch_size=128, steps=100_000, learning_rate=3e-4),
    ),
    "demo": Preset(
        # every track moved into C (core.music.keys): the model spends no capacity on 12 keys
        # noise_conditioned: the decoder reads a noise level (0 for every chunk until a `--latent-noise` run)
        vae=VAEConfig(encoder_size=256, decoder_size=256, decoder_layers=3, z_size=128, key_normalized=True,
                      noise_conditioned=True),
        # The committed VAE continued earlier weights (`--init-from DIR`) in five runs: 8,000 steps at
        # 128 free bits and learning rate 5e-4, 7,000 at 256, then these settings, then these settings
        # with `--freeze-encoder true` (the decoder alone; docs/data-and-training.md, "The VAE"), then
        # those with `--latent-noise 0.1 --noise-conditioned true` ("Decoding sampled latents").
        vae_training=VAETrainConfig(
            batch_size=128,
            steps=3_000,
            learning_rate=3e-4,
            transpose_semitones=0,  # the tracks are in C already
            lr_decay=0.9998,
            beta_rate=0.9995,
            # 512 free bits (355 nats) let a 2-bar latent carry a folk phrase nearly note for note
            free_bits=512.0,
            style_weights=DEMO_STYLE_WEIGHTS,
            precision="bf16",  # 2.4x faster than float32 on this CPU at equal loss
            eval_every=1000,
            eval_chunks=400,
            checkpoint_every=250,
        ),
        # both sequence models see where each latent stands in its tune (core.nets.transformer) and follow the
        # outline drawn before them (core.nets.outline)
        denoiser=DenoiserConfig(transformer_mlp_dims=512, mlp_dims=512, film_dims=256, tune_positions=True,
                                outline_conditioned=True),
        # the diffusion model's held-out loss and leaps still fell at 8,000 steps (0.0807 -> 0.0739 by 14,000);
        # the MDN, at 1.6 steps/s, stopped at 3,000; both then learnt to read outlines (DEMO_OUTLINE_FINE_TUNES)
        diffusion_training=DiffusionTrainConfig(**{**DEMO_SEQUENCE_TRAINING, "steps": 14_000}),
        # the paper's 100 components, on the same spans and labels
        mdn=MDNConfig(transformer_mlp_dims=512, mlp_dims=512, components=100, tune_positions=True,
                      outline_conditioned=True),
        mdn_training=SequenceTrainConfig(**DEMO_SEQUENCE_TRAINING),
        outline=OutlineConfig(transformer_mlp_dims=512, tune_positions=True),
        outline_training=SequenceTrainConfig(**{**DEMO_SEQUENCE_TRAINING, "steps": 8_000, "check_latents": 16}),
    ),
}


def preset(name: str) -> Preset:
    """The configs named `name`; ValueError listing the known names otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: --config must be one of {sorted(PRESETS)}")
    return PRESETS[name]
