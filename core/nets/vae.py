"""MusicVAE for 2-bar melodies (Roberts et al. 2018; the paper's `cat-mel_2bar_big` design).

Encoder: one bidirectional LSTM layer over the one-hot steps; the final states of both
directions give mu (dense) and sigma (dense + softplus). Decoder: an autoregressive
categorical LSTM stack; z sets every layer's initial state through a tanh dense layer and
is concatenated to every input step (the previous token, one-hot).

Rest chunks (no note onset) encode to the zero latent and the zero latent decodes to
silence, as in the paper; `encode` and `decode` apply that rule themselves.

A `noise_conditioned` decoder (not in the paper) also reads how far its latent may lie from
the latents of real chunks: a noise level (the std of Gaussian noise in the codec's normalized
coordinates) shifts z along a learnt direction before decoding. Level 0 decodes a chunk's own
latent note for note; a sequence model's latents, which miss the data by a little, are decoded
at the level they were trained for (`train.train_vae`, `--latent-noise`), so that the decoder
reads them as the nearest likely chunk instead of magnifying the miss into leaps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from core.music.constants import FIRST_NOTE_TOKEN, NO_EVENT, NUM_TOKENS, STEPS_PER_CHUNK
from core.music.outlines import FIRST, LAST, OUTLINE_SILENT
from core.nets.checkpoint import load_checkpoint

GREEDY_TEMPERATURE = 1e-3  # at or below this, decoding takes the most likely chunk
DEFAULT_BEAM_WIDTH = 4  # partial chunks the most-likely decoding keeps (docs/data-and-training.md, "The VAE")
NOISE_LEVEL_GAIN = 20.0  # a noise-conditioned decoder reads 20 x the level: 0.05, a typical one, as 1


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of a MusicVAE; stored in every checkpoint."""

    encoder_size: int = 2048
    decoder_size: int = 2048
    decoder_layers: int = 3
    z_size: int = 512
    key_normalized: bool = False  # trained on melodies moved into C (`core.music.keys`); callers move theirs there too
    noise_conditioned: bool = False  # the decoder reads a noise level with its latent (see the module docstring)


@dataclass
class VAEOutput:
    """What one training forward pass returns; B = batch, T = 32 steps, V = 90 tokens."""

    logits: torch.Tensor  # (B, T, V)
    mu: torch.Tensor  # (B, Z)
    sigma: torch.Tensor  # (B, Z)
    kl: torch.Tensor  # (B,) KL(q(z|x) || N(0, I)), summed over dims


def shift_right(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) targets -> (B, T) decoder inputs: -1 (the all-zero start input), then tokens[:-1]."""
    return torch.cat([torch.full_like(tokens[:, :1], -1), tokens[:, :-1]], dim=1)


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over the last dim: (B, Z) -> (B,)."""
    return 0.5 * (mu.square() + sigma.square() - 1.0 - 2.0 * torch.log(sigma + 1e-8)).sum(dim=-1)


def rest_mask(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) int tokens -> (B,) bool, True for chunks that start no note."""
    return ~(tokens >= FIRST_NOTE_TOKEN).any(dim=-1)


# The weights that map a chunk to its latent; a bundle's codec and sequence models depend on these
# alone, so a decoder fine-tuned with them frozen (`freeze_encoder`) keeps every latent valid.
ENCODER_PARTS = ("encoder.", "to_mu.", "to_sigma.")


class MusicVAE(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoder = nn.LSTM(NUM_TOKENS, c.encoder_size, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * c.encoder_size, c.z_size)
        self.to_sigma = nn.Linear(2 * c.encoder_size, c.z_size)
        self.z_to_state = nn.Linear(c.z_size, 2 * c.decoder_layers * c.decoder_size)
        self.decoder = nn.LSTM(NUM_TOKENS + c.z_size, c.decoder_size, c.decoder_layers, batch_first=True)
        self.to_logits = nn.Linear(c.decoder_size, NUM_TOKENS)
        if c.noise_conditioned:
            self.noise_shift = nn.Linear(1, c.z_size, bias=False)  # noise level -> shift of z
            nn.init.zeros_(self.noise_shift.weight)  # starts as the decoder it is fine-tuned from

    # parts a fine-tune adds to weights saved without them (`core.nets.checkpoint.load_weights_into`)
    ADDED_PARTS = ("noise_shift.",)

    # -- encoder ---------------------------------------------------------------------------

    def posterior(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens: (B, T) int -> (mu, sigma), each (B, Z). No rest-chunk rule applied."""
        one_hot = F.one_hot(tokens.long(), NUM_TOKENS).float()  # (B, T, V)
        _, (h_n, _) = self.encoder(one_hot)  # h_n: (2, B, H), forward then backward
        final = torch.cat([h_n[0], h_n[1]], dim=-1)  # (B, 2H)
        return self.to_mu(final), F.softplus(self.to_sigma(final))

    def freeze_encoder(self) -> None:
        """Train the decoder only from now on: the ENCODER_PARTS weights get no gradient."""
        for name, parameter in self.named_parameters():
            if name.startswith(ENCODER_PARTS):
                parameter.requires_grad_(False)

    @torch.no_grad()
    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior (mu, sigma) of many chunks, (B, Z) each; rest chunks get mu = 0.

        tokens: (B, 32) int tokens. Sigma of a rest chunk is left as the encoder gives it.
        """
        mu, sigma = self.posterior(tokens)
        mu = mu.masked_fill(rest_mask(tokens)[:, None], 0.0)
        return mu, sigma

    # -- decoder ---------------------------------------------------------------------------

    def decoder_latent(self, z: torch.Tensor, noise_level: torch.Tensor | float = 0.0) -> torch.Tensor:
        """(B, Z) latents and their noise level ((B,) or one for all) -> the (B, Z) latents the decoder
        reads: z itself unless the decoder is `noise_conditioned`."""
        if not self.config.noise_conditioned:
            return z
        level = torch.as_tensor(noise_level, dtype=z.dtype, device=z.device).expand(z.shape[0])
        return z + self.noise_shift(NOISE_LEVEL_GAIN * level[:, None])

    def initial_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (B, Z) -> LSTM (h0, c0), each (layers, B, H)."""
        c = self.config
        state = torch.tanh(self.z_to_state(z))  # (B, 2 * L * H)
        state = state.view(-1, 2, c.decoder_layers, c.decoder_size).permute(1, 2, 0, 3)  # (2, L, B, H)
        return state[0].contiguous(), state[1].contiguous()

    def decoder_logits(self, z: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits. z: (B, Z); previous: (B, T) tokens fed at each step
        (the target shifted right, first step -1 for the all-zero start input) -> (B, T, V)."""
        steps = previous.shape[1]
        inputs = F.one_hot(previous.clamp(min=0).long(), NUM_TOKENS).float()
        inputs = inputs * (previous >= 0)[..., None]  # start token: zero vector
        inputs = torch.cat([inputs, z[:, None, :].expand(-1, steps, -1)], dim=-1)  # (B, T, V + Z)
        outputs, _ = self.decoder(inputs, self.initial_state(z))  # (B, T, H)
        return self.to_logits(outputs)  # (B, T, V)

    @torch.no_grad()
    def decode(
        self,
        z: torch.Tensor,
        temperature: float = GREEDY_TEMPERATURE,
        generator: torch.Generator | None = None,
        beam_width: int = DEFAULT_BEAM_WIDTH,
        noise_level: torch.Tensor | float = 0.0,
        outlines: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Autoregressively decode latents into chunks: z (B, Z) -> tokens (B, 32) int64.

        temperature <= 0.001 (the paper's setting, in effect the argmax at every step) decodes
        the most likely chunk by beam search over `beam_width` partial chunks (1: greedy, token
        by token): a greedy decoder that errs once carries the error on, while the beam keeps
        the alternatives until later steps decide. Higher temperatures sample with `generator`.
        Rows of z that are exactly zero decode to silence (the paper's rest chunks). noise_level:
        how far z may lie from real chunks' latents, (B,) or one for all (`decoder_latent`).
        outlines: (B, OUTLINE_SLOTS) outline tokens (`core.music.outlines`) the most likely chunk is
        held to (greedy decoding only): its first onset is the first pitch given, and it is the best
        beam whose last onset is the last pitch given where one is found (its onset count is left to
        z); a silent outline decodes to silence, an unknown pitch (0) leaves that end free.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if beam_width < 1:
            raise ValueError(f"beam_width must be >= 1, got {beam_width}")
        greedy = temperature <= GREEDY_TEMPERATURE
        if not greedy and generator is None:
            raise ValueError("sampling at temperature > 0.001 needs a torch.Generator")
        if not greedy and outlines is not None:
            raise ValueError("outlines hold the most likely chunk only: decode at temperature <= 0.001")
        read = self.decoder_latent(z, noise_level)
        if greedy:
            tokens = self._beam_search(read, beam_width, outlines)
        else:
            tokens = self._sample(read, temperature, generator)
        silent = (z == 0).all(dim=-1)
        if outlines is not None:
            silent |= outlines[:, FIRST] == OUTLINE_SILENT
        tokens[silent] = NO_EVENT
        return tokens

    def _step(self, token_input: torch.Tensor, z_step: torch.Tensor, state) -> tuple[torch.Tensor, tuple]:
        """One decoder step: (R, 1, V) previous tokens, (R, 1, Z) -> ((R, V) logits, new state)."""
        output, state = self.decoder(torch.cat([token_input, z_step], dim=-1), state)
        return self.to_logits(output[:, 0]), state

    def _sample(self, z: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
        """(B, Z) -> (B, 32) tokens, each drawn from the softmax at `temperature`."""
        state = self.initial_state(z)
        token_input = torch.zeros(z.shape[0], 1, NUM_TOKENS, device=z.device, dtype=z.dtype)
        tokens = torch.empty(z.shape[0], STEPS_PER_CHUNK, dtype=torch.long, device=z.device)
        for step in range(STEPS_PER_CHUNK):
            logits, state = self._step(token_input, z[:, None, :], state)
            probs = torch.softmax(logits.float() / temperature, dim=-1)
            tokens[:, step] = torch.multinomial(probs, 1, generator=generator)[:, 0]
            token_input = F.one_hot(tokens[:, step], NUM_TOKENS).to(z.dtype)[:, None, :]
        return tokens

    def _beam_search(self, z: torch.Tensor, width: int, outlines: torch.Tensor | None = None) -> torch.Tensor:
        """(B, Z) -> (B, 32) tokens: the best of `width` partial chunks kept by summed log-probability.

        With outlines (B, OUTLINE_SLOTS): partial chunks whose first onset is another pitch than the first
        given are never kept, and a second bank of `width` beams keeps the best partial chunks
        whose latest onset is the last pitch given; the answer is that bank's best where it holds
        one, else the first bank's.
        """
        batch = z.shape[0]
        banks = 1 if outlines is None else 2
        beams = banks * width
        rows = z.repeat_interleave(beams, dim=0)  # (B * beams, Z), the beams of each latent side by side
        state = self.initial_state(rows)
        scores = torch.full((batch, beams), -torch.inf, device=z.device)
        scores[:, 0] = 0.0  # all beams start equal: keep one so that the first step does not pick duplicates
        tokens = torch.zeros(batch, beams, 0, dtype=torch.long, device=z.device)
        token_input = torch.zeros(batch * beams, 1, NUM_TOKENS, device=z.device, dtype=z.dtype)
        offsets = torch.arange(batch, device=z.device)[:, None] * beams  # (B, 1)
        vocabulary = torch.arange(NUM_TOKENS, device=z.device)
        is_onset = vocabulary >= FIRST_NOTE_TOKEN  # (V,)
        if outlines is not None:
            first, last = (outlines[:, i, None, None].to(z.device) for i in (FIRST, LAST))  # (B, 1, 1) each
            wrong_first = is_onset & (first >= FIRST_NOTE_TOKEN) & (vocabulary != first)  # (B, 1, V)
            lands = is_onset & (vocabulary == last)  # (B, 1, V): an onset of the last pitch given
            started = torch.zeros(batch, beams, dtype=torch.bool, device=z.device)
            landed = torch.zeros(batch, beams, dtype=torch.bool, device=z.device)
        for _ in range(STEPS_PER_CHUNK):
            logits, state = self._step(token_input, rows[:, None, :], state)
            log_probs = F.log_softmax(logits.float(), dim=-1).view(batch, beams, NUM_TOKENS)
            candidates = scores[:, :, None] + log_probs  # (B, beams, V)
            if outlines is None:
                scores, best = candidates.view(batch, -1).topk(width, dim=-1)  # (B, W)
            else:
                candidates = candidates.masked_fill(~started[:, :, None] & wrong_first, -torch.inf)
                landing = torch.where(is_onset, lands, landed[:, :, None])  # (B, beams, V)
                free = candidates.masked_fill(landing, -torch.inf).view(batch, -1).topk(width, dim=-1)
                held = candidates.masked_fill(~landing, -torch.inf).view(batch, -1).topk(width, dim=-1)
                scores, best = torch.cat([free.values, held.values], 1), torch.cat([free.indices, held.indices], 1)
            beam, token = best // NUM_TOKENS, best % NUM_TOKENS
            tokens = torch.cat([tokens.gather(1, beam[:, :, None].expand(-1, -1, tokens.shape[2])),
                                token[:, :, None]], dim=2)  # (B, beams, step + 1)
            if outlines is not None:
                started = started.gather(1, beam) | is_onset[token]
                landed = landing.view(batch, -1).gather(1, best)
            chosen = (beam + offsets).flatten()  # (B * beams,) the row each new beam continues
            state = (state[0][:, chosen], state[1][:, chosen])
            token_input = F.one_hot(token.flatten(), NUM_TOKENS).to(z.dtype)[:, None, :]
        if outlines is None:
            return tokens[:, 0].contiguous()  # topk sorts: beam 0 scores best
        answer = torch.where(torch.isfinite(scores[:, width]), width, 0)  # (B,) the held bank's best, if any
        return tokens[torch.arange(batch, device=z.device), answer].contiguous()

    # -- training --------------------------------------------------------------------------

    def forward(
        self,
        tokens: torch.Tensor,
        sampling_probability: float = 0.0,
        generator: torch.Generator | None = None,
        latent_map: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> VAEOutput:
        """Training pass on (B, 32) tokens with the reparameterized posterior sample z (B, Z), which
        `latent_map` (if given) turns into the (B, Z) latents the decoder reads and their (B,) noise
        levels (`decoder_latent`).

        Scheduled sampling, parallel form (Duckworth et al. 2019): a teacher-forced pass
        predicts every step; each decoder input is then replaced, with probability
        `sampling_probability`, by the model's own sampled token, and a second pass on
        those inputs gives the logits. Both passes run the fused LSTM over all 32 steps.
        """
        mu, sigma = self.posterior(tokens)
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + sigma * noise
        if latent_map is not None:
            z, noise_level = latent_map(z)
            z = self.decoder_latent(z, noise_level)
        logits = self.decoder_logits(z, shift_right(tokens))
        if sampling_probability > 0:
            with torch.no_grad():
                probs = torch.softmax(logits.detach().float(), dim=-1).flatten(0, 1)  # (B*T, V)
                sampled = torch.multinomial(probs, 1, generator=generator).view_as(tokens)
                use_sample = torch.rand(tokens.shape, generator=generator, device=tokens.device)
                mixed = torch.where(use_sample < sampling_probability, sampled, tokens)
            logits = self.decoder_logits(z, shift_right(mixed))
        return VAEOutput(logits=logits, mu=mu, sigma=sigma, kl=gaussian_kl(mu, sigma))


def load_vae(directory: str | Path, device: str | torch.device = "cpu") -> MusicVAE:
    """The VAE of a model directory (`vae.json` + `vae.safetensors`), in eval mode."""
    model, _ = load_checkpoint(directory, "vae", VAEConfig, MusicVAE, device)
    return model
