"""Acquire stage: scrape the Internet Archive collection into ``manifests/tracks.csv`` and download it, verified."""
