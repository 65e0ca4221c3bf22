"""The paper as one self-contained HTML page (nbconvert's lab template, images embedded, no
remote scripts) and its reading and print styles."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from pathlib import Path

from nrm.exceptions import LogError

__all__ = ["PAGE_CSS", "to_html"]


_IMG = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")
_REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*", re.I)


def to_html(markdown: str, images: Mapping[str, Path], *, title: str) -> str:
    """Markdown -> one self-contained HTML page (nbconvert, lab template).

    ``images`` maps each image link used in the Markdown to its PNG file; every image is
    embedded as a base64 attachment, and remote scripts (MathJax, require.js, unused here)
    are dropped, so the page needs no network and no other file.
    """
    import nbformat
    from nbconvert import HTMLExporter

    chunks = re.split(r"(?m)^(?=## )", markdown)
    cells = []
    for chunk in chunks:
        attachments: dict[str, dict[str, str]] = {}

        def embed(m: re.Match[str], attachments: dict[str, dict[str, str]] = attachments) -> str:
            link = m.group(2)
            if link not in images:
                raise LogError(f"the paper links {link}, which this build did not draw")
            name = Path(link).name
            data = base64.b64encode(Path(images[link]).read_bytes()).decode("ascii")
            attachments[name] = {"image/png": data}
            return f"![{m.group(1)}](attachment:{name})"

        src = _IMG.sub(embed, chunk)
        cell = nbformat.v4.new_markdown_cell(src)
        if attachments:
            cell["attachments"] = attachments
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"title": title})
    exporter = HTMLExporter(template_name="lab", exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return _REMOTE_SCRIPT.sub("", body).replace("</head>", PAGE_CSS + "</head>", 1)


#: Reading on a narrow screen (tables scroll in their own box, images shrink), provenance
#: stamps as small collapsed notes, and a print stylesheet (no chrome, stamps expanded, no
#: figure or table split across pages).
PAGE_CSS = """<style>
details.provenance { font-size: 0.8em; color: #555; margin: 0.2em 0 1.2em 0; }
details.provenance summary { cursor: pointer; }
details.provenance ul { margin: 0.3em 0 0 1.2em; padding: 0; }
.jp-RenderedHTMLCommon table { display: block; max-width: 100%; overflow-x: auto; }
.jp-RenderedHTMLCommon img { max-width: 100%; height: auto; }
@media (max-width: 700px) {
  body, .jp-Notebook, .jp-Cell { padding: 0 !important; margin: 0 !important; }
  .jp-RenderedHTMLCommon { font-size: 15px; padding: 0 6px; overflow-wrap: anywhere; }
  .jp-RenderedHTMLCommon pre { white-space: pre-wrap; }
}
@media print {
  @page { margin: 1.5cm; }
  body { background: #fff; color: #000; }
  .jp-InputPrompt, .jp-OutputPrompt, .jp-Collapser { display: none !important; }
  .jp-RenderedHTMLCommon table { display: table; overflow: visible; font-size: 8pt; }
  table, img, figure { break-inside: avoid; page-break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; page-break-after: avoid; }
  details.provenance > *:not(summary) { display: block; }
  a { color: #000; text-decoration: none; }
}
</style>
"""
