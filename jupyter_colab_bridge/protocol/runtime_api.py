"""What Colab's runtime API (``api/colab/*``) replies look like on the wire."""

from __future__ import annotations

#: Every JSON reply starts with this line, so that a page including it as a
#: ``<script>`` cannot read it (anti-XSSI); Colab's page strips it.
XSSI_PREFIX = ")]}'\n"
