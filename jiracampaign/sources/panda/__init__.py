"""The PanDA monitor (BigPanDA) as a status source: client, parsing, PanDA's own state tables."""
