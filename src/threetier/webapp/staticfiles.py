"""Static files storage for production: whitenoise's hashed, compressed files, gzip only.

Brotli at its highest level made `collectstatic` take ~9 s on a 2-core machine at every
instance boot (and every `threetier up`), mostly for the admin's files; gzip alone
takes a fraction of that and every browser accepts it.
"""

from __future__ import annotations

from typing import Any

from whitenoise.compress import Compressor
from whitenoise.storage import CompressedManifestStaticFilesStorage


class CompressedManifestStorage(CompressedManifestStaticFilesStorage):
    """Hashed names (cache forever) plus .gz siblings that whitenoise serves when accepted."""

    def create_compressor(self, **kwargs: Any) -> Compressor:
        return super().create_compressor(use_brotli=False, **kwargs)
