"""Sampling latent sequences: the noise schedule, the DDPM/DDIM/DPM-Solver++ samplers
(unconditional, infilling, tied forms, windowed) and the latent baselines."""
