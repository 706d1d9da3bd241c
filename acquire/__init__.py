"""Acquire stage (``jazzcnn.acquire``): scrape the Internet Archive collection into
``manifests/tracks.csv`` and download its audio, verified. :mod:`~jazzcnn.acquire.manifests`
owns the manifest CSVs and the one era rule."""
