"""Preprocess stage: decode to 16 kHz mono, remove Niven's spoken commentary, write shards."""
