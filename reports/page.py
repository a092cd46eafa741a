"""Writing a report page: one self-contained HTML file and a Markdown twin.

Shared by ``recdrift report`` and ``recdrift compare``. A page is a title, a
key–value table saying what it is about, a Markdown body (paragraphs, ``##``
headings, pipe tables, ``> `` notes, ``**bold**``) and figures. The HTML embeds
each figure as a base64 PNG (one file, nothing fetched when viewing); the
Markdown links the same PNGs written to ``figures/`` beside it. Files are
written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from reports.figures import plt
from sim.io import write_bytes_atomic


@dataclass
class Figure:
    """A rendered figure and the data it plotted (for tests and notebooks)."""

    fig_id: str
    title: str
    png: bytes
    data: dict = field(repr=False, default_factory=dict)


def render_png(fig) -> bytes:
    """The figure as PNG bytes; closes it."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def legend_outside(ax) -> None:
    """Legend to the right of the axes, so it never hides data."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def write_page(out: Path, stem: str, title: str, about: list[tuple[str, str]], sections: list[tuple[str, str, str]],
               figures: list[Figure], formats: tuple[str, ...]) -> dict[str, Path]:
    """Write ``out/<stem>.html`` and/or ``out/<stem>.md``.

    ``about`` is the key–value table of the first section ("what was run");
    ``sections`` are (anchor id, heading, Markdown body); figures come last.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if "md" in formats:
        (out / "figures").mkdir(exist_ok=True)
        lines = [f"# {title}", "", "## What was run", ""] + [f"- **{k}**: {v}" for k, v in about] + [""]
        for _, heading, body in sections:
            lines += [f"## {heading}", "", body, ""]
        lines += ["## Figures", ""]
        for f in figures:
            write_bytes_atomic(out / "figures" / f"{f.fig_id}.png", f.png)
            lines += [f"### {f.title}", "", f"![{f.title}](figures/{f.fig_id}.png)", ""]
        written["md"] = out / f"{stem}.md"
        write_bytes_atomic(written["md"], "\n".join(lines).encode())
    if "html" in formats:
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_inline(str(v))}</td></tr>" for k, v in about)
        body = [f"<h1>{html.escape(title)}</h1>", "<h2 id='what'>What was run</h2>", f"<table class='kv'>{rows}</table>"]
        for anchor, heading, md in sections:
            body += [f"<h2 id='{anchor}'>{html.escape(heading)}</h2>", markdown_to_html(md)]
        body.append("<h2 id='figures'>Figures</h2>")
        for f in figures:
            b64 = base64.b64encode(f.png).decode()
            body.append(f"<figure id='fig-{f.fig_id}'><img alt='{html.escape(f.title)}' src='data:image/png;base64,{b64}'>"
                        f"<figcaption>{html.escape(f.title)}</figcaption></figure>")
        page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'><title>{html.escape(title)}</title>"
                f"<style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>")
        written["html"] = out / f"{stem}.html"
        write_bytes_atomic(written["html"], page.encode())
    return written


def markdown_to_html(md: str) -> str:
    """The small Markdown subset our tables and summaries use, as HTML."""
    out, table = [], []

    def cells(row: str) -> list[str]:
        return [c.strip() for c in row.strip().strip("|").split("|")]

    def flush() -> None:
        if table:
            head, *rows = [r for r in table if not set(r.replace("|", "").strip()) <= {"-"}]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in cells(head)) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells(r)) + "</tr>" for r in rows)
                       + "</tbody></table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("## "):
            out.append(f"<h3>{_inline(line[3:])}</h3>")
        elif line.startswith("> "):
            out.append(f"<p class='note'>{_inline(line[2:])}</p>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


def _inline(text: str) -> str:
    """Escape, then Markdown's **bold** and `code`."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}
thead th{background:#f3f3f3}table.kv th{background:#fafafa;width:9em}figure{margin:1.5em 0}img{max-width:100%}
figcaption{font-size:13px;color:#555}p.note{background:#fff4e5;border-left:4px solid #E69F00;padding:6px 10px}
code{font-size:12px}"""
