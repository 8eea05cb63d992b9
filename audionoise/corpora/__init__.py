"""Corpora: manifests (NeMo JSONL), noise sources (folders, lists, globs), folder scans, Speech Commands
preparation and the noise-bank cache. Below the injectors: nothing here imports transforms, pipelines or hosts."""
