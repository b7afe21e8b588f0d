"""The Gradio user interface: one module per tab, built from the packages below it (never the other way).

``ui.blocks.build_demo()`` assembles the tabs; ``app.py`` only reads settings, starts the worker and launches.
"""
