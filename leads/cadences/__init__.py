"""Cadences: the follow-up plan each lead walks until it converts, says stop, or it ends."""
