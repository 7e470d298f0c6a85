"""Resumable uploads (tus 1.0): header parsing (``protocol``), partial data on local disk
(``staging``) or as pieces in an object store (``pieces``) behind one protocol
(``stagings``), and the upload rows' transitions (``service``). The HTTP side is
``streamer.routes.uploads``; docs/uploads.md describes the behaviour."""

from __future__ import annotations

from streamer.uploads.service import expire_uploads

__all__ = ["expire_uploads"]
