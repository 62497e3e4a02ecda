"""The networks and their files: the MusicVAE, the latent codec, the transformer trunk, the
denoiser, the TransformerMDN, checkpoints, and encoding and decoding through the VAE."""
