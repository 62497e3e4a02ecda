"""Melodies as token sequences and everything measured on them: tokens, MIDI reading and
writing, uploads, keys, forms, styles and the musicality metrics. No torch."""
