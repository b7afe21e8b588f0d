"""Record-supplied text made inert, and links built only from ids that are safe to link.

Every string that comes from a record or a user (model ids, architecture, hardware profile, dataset,
revision, noise reasons, reproduce commands) is untrusted: a model id like ``<img src=x onerror=...>``
must show as those characters, never become an element. Each output format has one helper:

- :func:`escape_markdown` for Markdown (the table's Model cell, row details, the report);
- :func:`escape_plotly` for Plotly hover/legend text (Plotly renders a subset of HTML);
- :func:`escape_html` for HTML attributes and text;
- :func:`code_block` for a fenced block (reproduce commands) that the text can never close;
- :func:`plain_text` for cells rendered as plain text (control characters and line breaks removed).

Links: :func:`model_link` returns a URL only for a Hub id ``org/name`` or a timm architecture name that
match strict patterns; everything else gets no link at all.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# Characters that start inline Markdown syntax (emphasis, code, links/images, tables, strikethrough, math,
# heading closers) are backslash-escaped; ``<``, ``>`` and ``&`` become entities, which every renderer
# (GitHub, Gradio's Markdown, Plotly) shows as the literal character. Escaped text is always inline (never
# at the start of a line), so ``.``, ``-`` and digits need no escape and numbers stay readable.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$#])")
_AUTOLINK = re.compile(r"(?i)(?<=www)\.|(?<=:)//")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_HTML_RE = re.compile("[&<>\"']")

# Hugging Face repo ids (``org/name``: letters, digits, ``-_.``, at most 96 each, no ``--`` or ``..``).
_HUB_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
HUB_ID = re.compile(rf"^(?!.*(?:--|\.\.)){_HUB_PART}/{_HUB_PART}$")
# timm architecture names (``resnet50``, ``vit_tiny_patch16_224``), optionally with a pretrained tag.
TIMM_NAME = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*(?:\.[a-z0-9]+(?:_[a-z0-9]+)*)?$")
_SAFE_URL = re.compile(r"^https://huggingface\.co/[A-Za-z0-9._/-]+(?:\?search_models=[a-z0-9._]+)?$")


def _text(value: object) -> str:
    return "" if value is None else str(value)


def plain_text(value: object, limit: int = 2000) -> str:
    """One line of text: control characters and line breaks become one space; cut at ``limit`` chars."""
    text = _CONTROL.sub(" ", _text(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape_html(value: object) -> str:
    """``<``, ``>``, ``&`` and quotes as entities, on one line (for Plotly text and HTML attributes)."""
    return _HTML_RE.sub(lambda m: _HTML[m.group()], plain_text(value))


def escape_plotly(value: object) -> str:
    """Text for Plotly labels, hovers and legends: only ``&``, ``<`` and ``>`` become entities, on one line.

    Plotly's pseudo-HTML parser decodes only a few entities in legends, so a quote escaped as ``&quot;``
    would show literally; quotes cannot start a tag, so they stay as they are."""
    return plain_text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_markdown(value: object) -> str:
    """Text that renders as itself in Markdown: no emphasis, links, images, HTML, table pipes or math."""
    text = _MD_SPECIAL.sub(r"\\\1", plain_text(value))
    text = _AUTOLINK.sub(lambda m: "\\" + "\\".join(m.group()), text)  # no bare-URL autolinks
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_block(text: object, lang: str = "") -> list[str]:
    """Lines of a fenced code block whose content cannot end it: one line per input line, each with
    control characters removed, and a fence longer than any run of backticks in the text."""
    lines = [plain_text(line) for line in _text(text).splitlines()] or [""]
    longest = max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{lang}", *lines, fence]


def model_link(model_id: object, source: object = None) -> str | None:
    """The page of a model: its Hub repo for ``hf-hub:org/name[@rev]``, timm's weights for a timm
    architecture; None for anything that does not match the strict id patterns (no link is built)."""
    if not isinstance(model_id, str):
        return None
    if model_id.startswith("hf-hub:") or source == "hf-hub":
        repo = model_id.removeprefix("hf-hub:").split("@", 1)[0]
        return f"https://huggingface.co/{quote(repo, safe='/')}" if HUB_ID.match(repo) else None
    if (source == "timm" or (source is None and ":" not in model_id)) and TIMM_NAME.match(model_id):
        return f"https://huggingface.co/timm?search_models={quote(model_id.split('.', 1)[0])}"
    return None


def safe_url(url: object) -> str | None:
    """``url`` when it is a link this module builds (an https Hugging Face page), else None."""
    return url if isinstance(url, str) and _SAFE_URL.match(url) else None


def markdown_link(text: object, url: object) -> str:
    """``[text](url)`` with the text escaped; just the escaped text when the URL is not a safe link."""
    label = escape_markdown(text)
    link = safe_url(url)
    return f"[{label}]({link})" if link else label
