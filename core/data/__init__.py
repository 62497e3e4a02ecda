"""Training data on disk: the melody cache (tokenized tracks by split and style) and the
latent sequences encoded from it."""
