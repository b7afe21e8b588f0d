"""Leaderboard view logic: results -> DataFrame, columns, filters, charts (no Gradio imports)."""
