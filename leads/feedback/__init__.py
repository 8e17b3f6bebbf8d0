"""Feedback to lead sources and the figures managers read: exports, rollups, the dashboard."""
