"""The catalogue: scanning libraries into tracks (``scan``), and reading them back
(``repository``). Import the submodules: the server's workers need only ``repository``,
and ``scan`` pulls in mutagen and the probes."""

from __future__ import annotations
